import type { Clock } from '../core/clock.js';
import type { FatesStore, Store } from '../core/store.js';
import type { Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import type { CliIo } from './io.js';

/**
 * The store an admin command works on: the relay's own, whichever engine it runs — SQLite in
 * dataDir (in-process, one short command) or the PostgreSQL cluster (store.url), so that a
 * command run on any node acts on the same data the relay does. The operations the commands use,
 * by Store group. `fates` is null where the engine has no fate writer (commands that end
 * recipients refuse there); both engines have one.
 */
export interface CliStore {
  readonly engine: Store['engine'];
  readonly admins: Store['admins'];
  readonly attempts: Pick<Store['attempts'], 'forMessage' | 'recentTls'>;
  readonly dkimKeys: Store['dkimKeys'];
  readonly events: Pick<Store['events'], 'lastId' | 'forMessage' | 'list' | 'count' | 'settledAfter'>;
  readonly limits: Pick<Store['limits'], 'list' | 'get' | 'set' | 'remove' | 'states'>;
  readonly messages: Store['messages'];
  readonly queueAdmin: Pick<Store['queueAdmin'], 'summary' | 'retry' | 'messageExists'> & Partial<Pick<Store['queueAdmin'], 'pending'>>;
  readonly quota: Pick<Store['quota'], 'get' | 'list' | 'set' | 'state'>;
  readonly recipients: Store['recipients'];
  readonly stats: Omit<Store['stats'], 'hourly' | 'topDomains' | 'hourlyCategories'>;
  readonly suppressions: Pick<Store['suppressions'], 'lookup' | 'get' | 'forAddress' | 'upsert' | 'remove' | 'list' | 'count' | 'clear' | 'page' | 'drops'>;
  readonly users: Store['users'];
  readonly webhooks: Pick<Store['webhooks'], 'list' | 'get'>;
  /** The suppression import's batches (without an actor: the CLI records no audit event). */
  readonly audited: Pick<Store['audited'], 'importSuppressions'>;
  readonly dsnOutbox: Store['dsnOutbox'];
  readonly fates: FatesStore | null;
  /** `ferry tls check` (the cached policy) and `ferry tls report` (the counts, what was sent, --send). */
  readonly mtaSts: Pick<Store['mtaSts'], 'get'>;
  readonly tlsReports: Store['tlsReports'];
  readonly queue: Pick<Store['queue'], 'acceptTlsReport'>;
  close(): Promise<void>;
}

/**
 * What every admin command gets: its streams, the relay's configuration (same file and
 * environment overrides as `ferry start`), and the relay's store, opened on first use.
 * Commands throw FerryError; the CLI entry turns it into one line on stderr and an exit code.
 */
export interface CliContext {
  io: CliIo;
  clock: Clock;
  config(): Config;
  /** The relay's store (closed when the command ends). */
  store(): Promise<CliStore>;
  /**
   * The SQLite database file itself, for what only a file allows (backup, integrity checks,
   * retention with its spool files). Refuses (FERRY_ERR_USAGE, naming `what`) when the relay
   * runs on PostgreSQL (store.url).
   */
  db(what?: string): Db;
  /** Reads and validates the same file and environment again, uncached (reload on SIGHUP). */
  reloadConfig?(): Config;
}
