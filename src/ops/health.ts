import { errorMessage } from '../core/errors.js';
import type { Db } from '../store/db.js';
import type { DiskGuard } from './disk-guard.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ReadinessReport {
  ok: boolean;
  checks: CheckResult[];
}

export interface ReadinessDeps {
  db: Db;
  disk: DiskGuard;
  /** The SMTP listeners are bound and the relay is not shutting down. */
  listening: () => { ok: boolean; detail: string };
  /** How long the write probe may wait for another writer's lock (it blocks the event loop that long). */
  lockWaitMs?: number;
  /** The database's integrity (ops/integrity-probe.ts); absent: not checked. */
  integrity?: () => CheckResult;
}

/**
 * Can this relay take mail now? The database must take a write lock (BEGIN IMMEDIATE, then
 * ROLLBACK: nothing is written), the spool disk must be above its threshold, and the listeners
 * must be bound. Every failing check is named, so a load balancer log says why.
 */
export function createReadiness(deps: ReadinessDeps) {
  const lockWaitMs = deps.lockWaitMs ?? 250;

  function database(): CheckResult {
    const { db } = deps;
    if (!db.open) return { name: 'database', ok: false, detail: 'the database is closed' };
    if (db.inTransaction) return { name: 'database', ok: true, detail: 'a transaction is in progress' };
    let previous: number;
    try {
      previous = db.pragma('busy_timeout', { simple: true }) as number;
    } catch (err) {
      // An iterator is open on this connection (an export in progress): it works, just busy.
      return { name: 'database', ok: true, detail: `busy, not probed: ${errorMessage(err)}` };
    }
    db.pragma(`busy_timeout = ${lockWaitMs}`);
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
      return { name: 'database', ok: true, detail: 'writable' };
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      return { name: 'database', ok: false, detail: `not writable: ${code}: ${errorMessage(err)}` };
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.pragma(`busy_timeout = ${previous}`);
    }
  }

  function disk(): CheckResult {
    const s = deps.disk.state();
    if (!s.accepting) return { name: 'disk', ok: false, detail: s.reason ?? 'free space below the threshold' };
    return { name: 'disk', ok: true, detail: s.freeBytes === null ? 'not measured yet' : `${s.freeBytes} bytes free` };
  }

  function listeners(): CheckResult {
    const l = deps.listening();
    return { name: 'listeners', ok: l.ok, detail: l.detail };
  }

  return {
    check(): ReadinessReport {
      const checks = [database(), disk(), listeners()];
      if (deps.integrity) checks.push(deps.integrity());
      return { ok: checks.every((c) => c.ok), checks };
    },
  };
}

export type Readiness = ReturnType<typeof createReadiness>;
