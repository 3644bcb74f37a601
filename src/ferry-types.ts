import type { Worker } from 'node:worker_threads';
import type { Clock } from './core/clock.js';
import type { Logger } from './core/logger.js';
import type { Random } from './core/random.js';
import type { DnsResolver } from './core/resolver.js';
import type { Config } from './config/schema.js';
import type { Db } from './store/db.js';
import type { QueueStore } from './store/queue-store.js';
import type { Spool } from './spool/spool.js';
import type { SenderProblemCount } from './outcome/consequences.js';
import type { Scheduler } from './workers/scheduler.js';
import type { FerryMetrics } from './ops/metrics.js';
import type { ReadinessReport } from './ops/health.js';
import type { Retention } from './ops/retention.js';
import type { TlsReportSink } from './tlsrpt/sink.js';
import type { TlsReporter } from './tlsrpt/reporter.js';
import type { ReloadResult } from './ops/reload.js';

export type { ReloadResult };

/** What the composition root (src/main.ts) builds: the running relay, as callers see it. */

export interface FerryDeps {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  resolver?: DnsResolver;
  /** The password check behind SMTP AUTH (default: scrypt); tests wrap it to count checks. */
  verifyPassword?: (password: string, stored: string) => Promise<boolean>;
  /** Extra CAs trusted for https TLS-RPT destinations (tests); default: the system's plus NODE_EXTRA_CA_CERTS. */
  tlsRptHttpsCa?: string | Buffer;
  /** The signing threads' code (default: src/sign/sign-worker); tests hand in one that crashes. */
  signWorkerUrl?: URL;
  /** The delivery thread's code (default: src/deliver/session-thread-worker); tests hand in one with faults. */
  sessionWorkerUrl?: URL;
  /** Tests: each delivery thread as it starts (to stop one from outside). */
  onDeliveryThread?: (worker: Worker) => void;
  /** The SQLite writer thread's module (tests: the compiled one, see test/helpers/store.ts); default: beside the engine. */
  storeWriterEntry?: URL;
}

export interface Ferry {
  readonly config: Config;
  /** SQLite only (the parts not on the Store interface yet, and tests): throws FERRY_ERR_STORE on PostgreSQL. */
  readonly db: Db;
  /** SQLite only, as `db`. */
  readonly queue: QueueStore;
  /** Message bodies (the body contract): spool files on SQLite, chunk rows staged here on PostgreSQL. */
  readonly spool: Spool;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Deletes finished bodies and old records (retention.*); `run()` is one whole pass. */
  readonly retention: Retention;
  /** Prometheus metrics (own registry); the throttle sets its provider of throttled destinations here. */
  readonly metrics: FerryMetrics;
  /** TLS-RPT (RFC 8460): the session counter deliver reports to, and the daily sender (null: tlsRpt.enabled is off). */
  readonly tlsReports: { readonly sink: TlsReportSink; readonly reporter: TlsReporter | null };
  /** What /readyz answers: store writable (a write probe through the Store), disk above its threshold, listeners bound. */
  readiness(): Promise<ReadinessReport>;
  /**
   * Swaps in a new validated config without dropping connections: TLS certificate, DKIM keys,
   * routes, policy (dmarc, suppression), retry settings, disk thresholds, log level. Keys that
   * need a restart keep their old value and are named in the result and the log. Anything that
   * cannot be loaded (a certificate, a key file) refuses the whole reload; the old config stays.
   */
  reload(next: Config): Promise<ReloadResult>;
  /** Where the listeners are bound (null before start). */
  readonly addresses: { smtp: string; smtps: string | null; http: string | null } | null;
  /**
   * Bounce consequences for operations: sender-side problems (blocked, policy, spam_content) per
   * destination since start, and each webhook URL's cursor and failures.
   */
  bounceReport(): { senderProblems: SenderProblemCount[]; webhooks: { url: string; lastEventId: number; failures: number; lastError: string | null }[] };
  /** Recovers, binds the listeners and starts the workers. */
  start(): Promise<{ smtp: string; smtps: string | null; http: string | null; /** the bounce-domain listener, when configured */ bounce?: string | null; /** the one-click unsubscribe endpoint, when unsubscribe.listen is set */ unsubscribe?: string | null }>;
  /** Graceful: stop accepting, let sessions in DATA finish, finish or hand back deliveries, close the database. */
  stop(): Promise<void>;
}

