import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TlsResultSink, TlsSessionResult } from '../core/tls.js';
import type { TlsCountsDelta, TlsFailureDetail } from '../store/tls-report-repo.js';

/**
 * The TLS-RPT sink deliver hands every MX session's TLS result to. `record` only adds to
 * counters in memory (a map lookup, no I/O), so a session never waits for the disk; the counts
 * go to the store in one transaction every `flushIntervalMs` and at stop. A crash loses at most
 * the sessions of that last interval from the report (the mail itself is unaffected).
 */
export interface TlsCountsWriter {
  add(deltas: readonly TlsCountsDelta[]): void;
}

export interface TlsReportSinkDeps {
  repo: TlsCountsWriter;
  clock: Clock;
  logger: Logger;
  flushIntervalMs: number;
}

export interface TlsReportSink extends TlsResultSink {
  start(): void;
  /** Writes what is counted now (one transaction). */
  flush(): void;
  /** Stops the timer and writes what is left. */
  stop(): void;
  /** Sessions counted and not yet written. */
  readonly pending: number;
}

/** The reason text kept per failure row; longer text (an error message) is cut so rows stay few. */
export const FAILURE_REASON_MAX_CHARS = 200;

/** The UTC day (YYYY-MM-DD) a timestamp falls on; RFC 8460 reports cover whole UTC days. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

interface Entry {
  delta: TlsCountsDelta;
  failures: Map<string, TlsFailureDetail>;
}

export function createTlsReportSink(deps: TlsReportSinkDeps): TlsReportSink {
  let entries = new Map<string, Entry>();
  let pending = 0;
  let timer: TimerHandle | null = null;
  let running = false;

  const schedule = (): void => {
    if (!running) return;
    timer = deps.clock.setTimer(deps.flushIntervalMs, () => {
      timer = null;
      flush();
      schedule();
    });
  };

  function flush(): void {
    if (entries.size === 0) return;
    const batch = [...entries.values()].map((e) => ({ ...e.delta, failures: [...e.failures.values()] }));
    const sessions = pending;
    entries = new Map();
    pending = 0;
    try {
      deps.repo.add(batch);
    } catch (err) {
      // The report for these sessions is lost; delivery is not affected. Said once, loudly.
      deps.logger.error({ err, sessions }, 'TLS-RPT: could not store session counts; they are missing from the report');
    }
  }

  return {
    record(r: TlsSessionResult): void {
      try {
        const day = utcDay(r.at);
        const policyDomain = r.policyDomain.toLowerCase();
        const key = JSON.stringify([day, policyDomain, r.policy.type, r.policy.strings, r.policy.mxHosts]);
        let e = entries.get(key);
        if (!e) {
          e = {
            delta: { day, policyDomain, policy: { type: r.policy.type, strings: [...r.policy.strings], mxHosts: [...r.policy.mxHosts] }, success: 0, failure: 0, failures: [] },
            failures: new Map(),
          };
          entries.set(key, e);
        }
        pending++;
        if (r.result === 'success') {
          e.delta.success++;
          return;
        }
        e.delta.failure++;
        const detail: Omit<TlsFailureDetail, 'count'> = {
          resultType: r.result,
          receivingMxHostname: r.mxHost,
          receivingIp: r.receivingIp ?? '',
          receivingMxHelo: r.receivingMxHelo ?? '',
          failureReasonCode: (r.detail ?? '').slice(0, FAILURE_REASON_MAX_CHARS),
        };
        const fkey = JSON.stringify([detail.resultType, detail.receivingMxHostname, detail.receivingIp, detail.receivingMxHelo, detail.failureReasonCode]);
        const f = e.failures.get(fkey);
        if (f) f.count++;
        else e.failures.set(fkey, { ...detail, count: 1 });
      } catch (err) {
        // The contract: record never throws into a delivery.
        deps.logger.warn({ err }, 'TLS-RPT: a session result could not be counted');
      }
    },
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    flush,
    stop() {
      running = false;
      timer?.cancel();
      timer = null;
      flush();
    },
    get pending() {
      return pending;
    },
  };
}
