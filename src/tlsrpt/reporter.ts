import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { dnsErrorCode, DNS_NO_DATA, DNS_NOT_FOUND, type DnsResolver } from '../core/resolver.js';
import type { Store } from '../core/store.js';
import type { AcceptedMessage } from '../core/store-types.js';
import { ownMessage } from '../core/own-mail.js';
import type { TlsReportsStore } from '../core/store.js';
import type { TlsSentRow } from '../store/tls-report-repo.js';
import { postReport, type HttpsPostOptions, type PostResult } from './https-post.js';
import { selectTlsRptRecord, type RuaUri } from './record.js';
import { buildReport, gzipReport, reportId, type TlsRptReportJson } from './report.js';
import { composeReportMail } from './report-mail.js';
import { utcDay } from './sink.js';

/**
 * The daily TLS-RPT sender. Once a UTC day is over (plus `sendDelayMinutes`, so the sink's last
 * counts are stored), each policy domain counted that day gets its RFC 8460 report, if it
 * publishes a `_smtp._tls` record: `mailto:` destinations through Ferry's own queue (queued in
 * the same transaction that records it), `https:` destinations by POST, retried a few times.
 * What was sent where is recorded per destination, so a restart never sends a report twice
 * (an https POST that succeeded just before a crash is the one exception: sent again with the
 * same report-id, which RFC 8460 receivers use to tell repeats).
 */
export interface TlsReporterSettings {
  organization: string;
  contact: string;
  /** the reporting MTA's name (report-id, file name, TLS-Report-Submitter) */
  submitter: string;
  /** From header of report mail */
  from: string;
  sendDelayMinutes: number;
  checkIntervalMs: number;
  /** days older than this are not reported any more */
  maxAgeDays: number;
  /** counts and send records older than this many days are deleted */
  keepDays: number;
  https: { timeoutMs: number; attempts: number; retryDelayMs: number };
}

export interface TlsReporterDeps {
  /** Report mail is queued through the store, with its sent rows in the same transaction (queue.acceptTlsReport). */
  store: { queue: Pick<Store['queue'], 'acceptTlsReport'> };
  /**
   * The counts and what was sent where: the store's tlsReports (either engine), or the CLI's
   * synchronous SQLite repository (store/tls-report-repo.ts); every answer is awaited.
   */
  repo: TlsReportAccess;
  resolver: DnsResolver;
  clock: Clock;
  logger: Logger;
  newId: () => string;
  settings: TlsReporterSettings;
  userAgent: string;
  /** extra trusted CAs for https rua (tests); default: the system store plus NODE_EXTRA_CA_CERTS */
  httpsCa?: HttpsPostOptions['ca'];
  /** a report mail was queued: let the scheduler look now */
  onQueued?: (id: string) => void;
  /** Flushes in-memory session counts before a day is read (the sink). */
  beforeReport?: () => void | Promise<void>;
}

/** TlsReportsStore's reads and writes the reporter makes, each answered now or later. */
export type TlsReportAccess = {
  [K in 'domain' | 'pending' | 'markSent' | 'sent' | 'prune']: (...args: Parameters<TlsReportsStore[K]>) => Awaited<ReturnType<TlsReportsStore[K]>> | ReturnType<TlsReportsStore[K]>;
};

export type DomainReportState = 'sent' | 'no-record' | 'already-sent' | 'retry-later' | 'stopped';

export interface DomainReportResult {
  day: string;
  policyDomain: string;
  state: DomainReportState;
  detail: string | null;
  destinations: TlsSentRow[];
  report: TlsRptReportJson | null;
}

export interface TlsReporter {
  start(): void;
  stop(): Promise<void>;
  /** One pass over finished days (what the timer runs). */
  runOnce(): Promise<DomainReportResult[]>;
  /** Sends one day's reports now, finished or not (the CLI's --send). */
  sendDay(day: string): Promise<DomainReportResult[]>;
}

const DAY_MS = 86_400_000;

export function createTlsReporter(deps: TlsReporterDeps): TlsReporter {
  const { repo, clock, logger, settings } = deps;
  let timer: TimerHandle | null = null;
  let running: Promise<unknown> | null = null;
  let stopping = false;
  const abort = new AbortController();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (abort.signal.aborted) return resolve();
      const t = clock.setTimer(ms, () => {
        abort.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        t.cancel();
        resolve();
      };
      abort.signal.addEventListener('abort', onAbort, { once: true });
    });

  async function lookup(policyDomain: string): Promise<{ rua: RuaUri[]; ignored: string[] } | { none: string } | { retry: string }> {
    const name = `_smtp._tls.${policyDomain}`;
    let records: string[];
    try {
      records = await deps.resolver.resolveTxt(name);
    } catch (err) {
      const code = dnsErrorCode(err);
      if (code === DNS_NOT_FOUND || code === DNS_NO_DATA) return { none: `no TXT record at ${name}` };
      return { retry: `TXT lookup of ${name} failed: ${code ?? errorMessage(err)}` };
    }
    const parsed = selectTlsRptRecord(records);
    if (!parsed.ok) return { none: `${name}: ${parsed.reason}` };
    return { rua: parsed.rua, ignored: parsed.ignored };
  }

  async function post(uri: Extract<RuaUri, { kind: 'https' }>, gz: Buffer): Promise<PostResult> {
    let last: PostResult = { ok: false, error: 'not tried' };
    for (let attempt = 1; attempt <= settings.https.attempts; attempt++) {
      if (abort.signal.aborted) return { ok: false, error: 'stopped' };
      last = await postReport(uri.url, gz, {
        resolver: deps.resolver,
        timeoutMs: settings.https.timeoutMs,
        userAgent: deps.userAgent,
        signal: abort.signal,
        ...(deps.httpsCa ? { ca: deps.httpsCa } : {}),
      });
      if (last.ok) return last;
      logger.warn({ uri: uri.uri, attempt, of: settings.https.attempts, error: last.error }, 'TLS-RPT: report POST failed');
      if (attempt < settings.https.attempts) await sleep(settings.https.retryDelayMs * 2 ** (attempt - 1));
    }
    return last;
  }

  async function reportDomain(day: string, policyDomain: string): Promise<DomainReportResult> {
    const base = { day, policyDomain };
    const earlier = await repo.sent(day, policyDomain);
    const whole = earlier.find((r) => r.destination === '');
    if (whole) return { ...base, state: 'already-sent', detail: `${whole.state}${whole.detail ? `: ${whole.detail}` : ''}`, destinations: earlier, report: null };
    const found = await lookup(policyDomain);
    const now = clock.now();
    if ('retry' in found) {
      logger.warn({ day, policyDomain, error: found.retry }, 'TLS-RPT: could not look up the report destinations; trying again later');
      return { ...base, state: 'retry-later', detail: found.retry, destinations: earlier, report: null };
    }
    if ('none' in found) {
      await repo.markSent({ day, policyDomain, destination: '', state: 'no-record', reportId: null, detail: found.none, at: now });
      logger.info({ day, policyDomain, reason: found.none }, 'TLS-RPT: the domain takes no reports');
      return { ...base, state: 'no-record', detail: found.none, destinations: await repo.sent(day, policyDomain), report: null };
    }
    if (found.ignored.length) logger.warn({ day, policyDomain, ignored: found.ignored }, 'TLS-RPT: some rua destinations are not usable');
    const id = reportId(day, policyDomain, settings.submitter);
    const report = buildReport({ organization: settings.organization, contact: settings.contact, submitter: settings.submitter, day, policyDomain, policies: await repo.domain(day, policyDomain) });
    const gz = gzipReport(report);
    const done = new Set(earlier.map((r) => r.destination));

    const mailto = found.rua.filter((u): u is Extract<RuaUri, { kind: 'mailto' }> => u.kind === 'mailto' && !done.has(u.uri));
    if (mailto.length) {
      const queueId = deps.newId();
      const mail = await composeReportMail({
        from: settings.from,
        to: mailto.map((u) => u.address),
        submitter: settings.submitter,
        organization: settings.organization,
        day,
        policyDomain,
        reportId: id,
        gzipped: gz,
        now,
        messageId: `${queueId}.tlsrpt@${settings.submitter}`,
      });
      const accepted: AcceptedMessage = {
        // A null sender: a report that cannot be delivered makes no bounce (and no loop).
        message: ownMessage({
          id: queueId,
          createdAt: now,
          headers: mail.headers,
          body: mail.body,
          headerFrom: settings.from,
          messageIdHeader: `<${queueId}.tlsrpt@${settings.submitter}>`,
          subject: mail.subject,
          eightBit: false,
          smtputf8: false,
          kind: 'tlsrpt',
        }),
        recipients: [...new Map(mailto.map((u) => [u.address, u])).values()].map((u) => ({ address: u.address, domain: u.domain, status: 'queued', reason: null, category: null })),
      };
      // The report mail and the record of it commit together: queued once, never twice.
      await deps.store.queue.acceptTlsReport(
        accepted,
        mailto.map((u) => ({ day, policyDomain, destination: u.uri, state: 'queued', reportId: id, detail: `queue id ${queueId}`, at: now })),
      );
      logger.info({ day, policyDomain, queueId, to: mailto.map((u) => u.address), reportId: id }, 'TLS-RPT: report mail queued');
      deps.onQueued?.(queueId);
    }
    for (const u of found.rua) {
      if (u.kind !== 'https' || done.has(u.uri)) continue;
      const res = await post(u, gz);
      if (!res.ok && abort.signal.aborted) return { ...base, state: 'stopped', detail: 'stopped before every destination was tried', destinations: await repo.sent(day, policyDomain), report };
      await repo.markSent({ day, policyDomain, destination: u.uri, state: res.ok ? 'sent' : 'failed', reportId: id, detail: res.ok ? `HTTP ${res.status}` : res.error, at: clock.now() });
      if (res.ok) logger.info({ day, policyDomain, uri: u.uri, reportId: id }, 'TLS-RPT: report posted');
      else logger.error({ day, policyDomain, uri: u.uri, reportId: id, error: res.error }, 'TLS-RPT: report POST failed; not tried again');
    }
    await repo.markSent({ day, policyDomain, destination: '', state: 'done', reportId: id, detail: found.rua.map((u) => u.uri).join(', '), at: clock.now() });
    return { ...base, state: 'sent', detail: null, destinations: await repo.sent(day, policyDomain), report };
  }

  async function reportPairs(pairs: { day: string; policyDomain: string }[]): Promise<DomainReportResult[]> {
    const out: DomainReportResult[] = [];
    for (const p of pairs) {
      if (abort.signal.aborted) break;
      try {
        out.push(await reportDomain(p.day, p.policyDomain));
      } catch (err) {
        logger.error({ err, day: p.day, policyDomain: p.policyDomain }, 'TLS-RPT: report failed; trying again later');
        out.push({ ...p, state: 'retry-later', detail: errorMessage(err), destinations: [], report: null });
      }
    }
    return out;
  }

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const prev = running ?? Promise.resolve();
    const run = prev.then(fn, fn);
    running = run.catch(() => undefined);
    return run;
  }

  async function runOnce(): Promise<DomainReportResult[]> {
    return exclusive(async () => {
      await deps.beforeReport?.();
      const now = clock.now();
      const last = utcDay(now - settings.sendDelayMinutes * 60_000 - DAY_MS);
      const first = utcDay(now - settings.maxAgeDays * DAY_MS);
      const pruned = await repo.prune(utcDay(now - settings.keepDays * DAY_MS));
      if (pruned) logger.info({ policies: pruned }, 'TLS-RPT: old counts deleted');
      if (last < first) return [];
      return reportPairs(await repo.pending(first, last));
    });
  }

  const schedule = (): void => {
    if (stopping) return;
    timer = clock.setTimer(settings.checkIntervalMs, () => {
      timer = null;
      void runOnce().finally(schedule);
    });
  };

  return {
    start() {
      // First look soon after start (a day may have ended while the relay was down).
      timer = clock.setTimer(Math.min(settings.checkIntervalMs, 5_000), () => {
        timer = null;
        void runOnce().finally(schedule);
      });
    },
    async stop() {
      stopping = true;
      timer?.cancel();
      abort.abort();
      await running;
    },
    runOnce,
    sendDay(day) {
      return exclusive(async () => {
        await deps.beforeReport?.();
        return reportPairs(await repo.pending(day, day));
      });
    },
  };
}
