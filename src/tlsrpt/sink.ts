import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TlsResultSink, TlsSessionResult } from '../core/tls.js';
import type { TlsReportsStore } from '../core/store.js';
import type { TlsCountsDelta, TlsFailureDetail } from '../core/tls-store-types.js';

/**
 * The TLS-RPT sink deliver hands every MX session's TLS result to. `record` only adds to
 * counters in memory (a map lookup, no I/O), so a session never waits for the disk. Every
 * `flushIntervalMs` the counts go to the store (Store.tlsReports.add) in transactions of at most
 * `chunk` policies, one after the other, so even thousands of domains counted in one interval
 * never make one long transaction; at stop (and before a report is made) all of them. A crash
 * loses at most the sessions of that last interval from the report (the mail itself is unaffected).
 */
export type TlsCountsWriter = Pick<TlsReportsStore, 'add'>;

export interface TlsReportSinkDeps {
  store: TlsCountsWriter;
  clock: Clock;
  logger: Logger;
  flushIntervalMs: number;
  /** policies written per transaction by the timer's flush (default 200) */
  chunk?: number;
}

export interface TlsReportSink extends TlsResultSink {
  start(): void;
  /** Writes everything counted until now; resolves once stored (before a report is made; tests). */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left (call it before the store closes). */
  stop(): Promise<void>;
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
  sessions: number;
}

// Field separators that cannot occur in DNS names, policy lines or result types.
const SEP = '\u0000';
const LIST = '\u0001';

export function createTlsReportSink(deps: TlsReportSinkDeps): TlsReportSink {
  const chunk = deps.chunk ?? 200;
  let entries = new Map<string, Entry>();
  /** Taken out of `entries` by the timer, written a chunk per turn of the event loop. */
  let writing: Entry[] = [];
  let timer: TimerHandle | null = null;
  let running = false;
  /** Sessions handed to the store and not yet stored (they still count as pending). */
  let inStore = 0;
  /** The chunk being written: the next waits for it (one write at a time, in order). */
  let last: Promise<void> = Promise.resolve();

  const write = (batch: Entry[]): Promise<void> => {
    if (batch.length === 0) return last;
    const sessions = batch.reduce((n, e) => n + e.sessions, 0);
    inStore += sessions;
    last = last
      .then(() => deps.store.add(batch.map((e) => ({ ...e.delta, failures: [...e.failures.values()] }))))
      .catch((err: unknown) => {
        // The report for these sessions is lost; delivery is not affected. Said once, loudly.
        deps.logger.error({ err, sessions }, 'TLS-RPT: could not store session counts; they are missing from the report');
      })
      .finally(() => {
        inStore -= sessions;
      });
    return last;
  };

  const writeNextChunk = (): void => {
    const batch = writing.splice(0, chunk);
    // The next chunk after this one is stored, and a turn of the event loop later.
    void write(batch).then(() => {
      if (writing.length) setImmediate(writeNextChunk);
    });
  };

  const schedule = (): void => {
    if (!running) return;
    timer = deps.clock.setTimer(deps.flushIntervalMs, () => {
      timer = null;
      const idle = writing.length === 0;
      writing.push(...entries.values());
      entries = new Map();
      if (idle && writing.length) writeNextChunk();
      schedule();
    });
  };

  function flush(): Promise<void> {
    const all = [...writing, ...entries.values()];
    writing = [];
    entries = new Map();
    for (let i = 0; i < all.length; i += chunk) void write(all.slice(i, i + chunk));
    return last;
  }

  return {
    record(r: TlsSessionResult): void {
      try {
        const day = utcDay(r.at);
        const policyDomain = r.policyDomain.toLowerCase();
        const key = day + SEP + policyDomain + SEP + r.policy.type + SEP + r.policy.strings.join(LIST) + SEP + r.policy.mxHosts.join(LIST);
        let e = entries.get(key);
        if (!e) {
          e = {
            delta: { day, policyDomain, policy: { type: r.policy.type, strings: [...r.policy.strings], mxHosts: [...r.policy.mxHosts] }, success: 0, failure: 0, failures: [] },
            failures: new Map(),
            sessions: 0,
          };
          entries.set(key, e);
        }
        e.sessions++;
        if (r.result === 'success') {
          e.delta.success++;
          return;
        }
        e.delta.failure++;
        const reason = (r.detail ?? '').slice(0, FAILURE_REASON_MAX_CHARS);
        const fkey = r.result + SEP + r.mxHost + SEP + (r.receivingIp ?? '') + SEP + (r.receivingMxHelo ?? '') + SEP + reason;
        const f = e.failures.get(fkey);
        if (f) f.count++;
        else {
          e.failures.set(fkey, {
            resultType: r.result,
            receivingMxHostname: r.mxHost,
            receivingIp: r.receivingIp ?? '',
            receivingMxHelo: r.receivingMxHelo ?? '',
            failureReasonCode: reason,
            count: 1,
          });
        }
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
      return flush();
    },
    get pending() {
      let n = inStore;
      for (const e of entries.values()) n += e.sessions;
      for (const e of writing) n += e.sessions;
      return n;
    },
  };
}
