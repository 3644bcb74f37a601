import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Store } from '../core/store.js';
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
  /** The store's write probe (stats.probeWrite). */
  store: { stats: Pick<Store['stats'], 'probeWrite'> };
  clock: Clock;
  disk: DiskGuard;
  /** The SMTP listeners are bound and the relay is not shutting down. */
  listening: () => { ok: boolean; detail: string };
  /** How long the write probe may take before the store is reported not writable (it goes on in the background). */
  lockWaitMs?: number;
  /** The database's integrity (ops/integrity-probe.ts); absent: not checked. */
  integrity?: () => CheckResult;
}

/**
 * Can this relay take mail now? The store must take a write (a probe through the Store that
 * writes nothing: on SQLite a write transaction on the writer thread's connection), the spool disk
 * must be above its threshold, and the listeners must be bound. Every failing check is named, so
 * a load balancer log says why. A probe that has not answered within lockWaitMs fails the check
 * and goes on; the next check waits for it rather than stacking another behind it.
 */
export function createReadiness(deps: ReadinessDeps) {
  const lockWaitMs = deps.lockWaitMs ?? 250;
  let inFlight: { since: number; done: Promise<CheckResult> } | null = null;

  function probe(): { since: number; done: Promise<CheckResult> } {
    if (inFlight) return inFlight;
    const since = deps.clock.now();
    const done = Promise.resolve()
      .then(() => deps.store.stats.probeWrite())
      .then(
        (): CheckResult => ({ name: 'database', ok: true, detail: 'writable' }),
        (err: unknown): CheckResult => {
          const code = (err as { code?: string }).code ?? 'error';
          return { name: 'database', ok: false, detail: `not writable: ${code}: ${errorMessage(err)}` };
        },
      )
      .finally(() => {
        if (inFlight?.done === done) inFlight = null;
      });
    inFlight = { since, done };
    return inFlight;
  }

  async function database(): Promise<CheckResult> {
    const p = probe();
    let timer: { cancel(): void } | null = null;
    const late = new Promise<CheckResult>((resolve) => {
      const left = Math.max(0, lockWaitMs - (deps.clock.now() - p.since));
      timer = deps.clock.setTimer(left, () =>
        resolve({ name: 'database', ok: false, detail: `not writable: a write probe has waited ${deps.clock.now() - p.since} ms (another process holds the write lock, or the disk is stalled)` }),
      );
    });
    try {
      return await Promise.race([p.done, late]);
    } finally {
      (timer as { cancel(): void } | null)?.cancel();
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
    async check(): Promise<ReadinessReport> {
      const checks = [await database(), disk(), listeners()];
      if (deps.integrity) checks.push(deps.integrity());
      return { ok: checks.every((c) => c.ok), checks };
    },
  };
}

export type Readiness = ReturnType<typeof createReadiness>;
