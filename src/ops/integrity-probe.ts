import { statSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import Database from '../store/sqlite-driver.js';
import { checkIntegrity } from '../store/integrity.js';
import type { CheckResult } from './health.js';

export interface IntegrityProbeDeps {
  /** The database file. */
  file: string;
  clock: Clock;
  /** At most one check per interval; /readyz in between answers the last verdict. */
  intervalMs?: number;
  /** Bigger files are not checked here (it runs on the event loop): `ferry doctor --data` does. */
  maxBytes?: number;
}

/**
 * /readyz's integrity check: PRAGMA quick_check on a fresh read-only connection (a cold page
 * cache, so it reads what is on disk, not what the relay's connection remembers), at most every
 * intervalMs. A database that went bad while the relay runs is then "not ready", not healthy.
 */
export function createIntegrityProbe(deps: IntegrityProbeDeps) {
  const intervalMs = deps.intervalMs ?? 5 * 60_000;
  const maxBytes = deps.maxBytes ?? 64 * 1024 * 1024;
  let last: CheckResult | null = null;
  let at = 0;

  /** null: could not check now (another process holds the lock): ask again next time. */
  function run(): CheckResult | null {
    let size: number;
    try {
      size = statSync(deps.file).size;
    } catch (err) {
      return { name: 'integrity', ok: false, detail: `cannot look at ${deps.file}: ${errorMessage(err)}` };
    }
    if (size > maxBytes) return { name: 'integrity', ok: true, detail: `not checked here (${size} bytes): ferry doctor --data runs the full check` };
    let db;
    try {
      // timeout 0: never wait on the event loop for another process's lock.
      db = new Database(deps.file, { readonly: true, fileMustExist: true, timeout: 0 });
    } catch (err) {
      return { name: 'integrity', ok: false, detail: `cannot open ${deps.file}: ${errorMessage(err)}` };
    }
    try {
      const report = checkIntegrity(db, 'quick_check', 3);
      return report.ok ? { name: 'integrity', ok: true, detail: 'quick_check ok' } : { name: 'integrity', ok: false, detail: `database corrupt: ${report.problems.join('; ')}` };
    } catch (err) {
      if (String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return null;
      return { name: 'integrity', ok: false, detail: `quick_check failed: ${errorMessage(err)}` };
    } finally {
      db.close();
    }
  }

  return {
    check(): CheckResult {
      const now = deps.clock.now();
      if (!last || now - at >= intervalMs) {
        const result = run();
        if (!result) return last ?? { name: 'integrity', ok: true, detail: 'not checked yet: the database is busy' };
        last = result;
        at = now;
      }
      return last;
    },
  };
}
