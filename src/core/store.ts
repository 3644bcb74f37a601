/**
 * The store: everything durable goes through this one asynchronous interface. The pipeline
 * depends on it, never on an engine; SQL lives only inside the engines (src/store/sqlite/,
 * src/store/postgres/). The same contract suite (test/store/contract/) runs against each engine.
 *
 * Shape: one group per table family, with the names, arguments and results the synchronous
 * SQLite repositories had (src/store/*-repo.ts), each returning a Promise; plus `queue` (the
 * multi-table intake and expiry writes) and `fates` (outcome/fate's write plans). The web
 * console's reads are a concept of their own (core/console-store.ts): the groups that answer
 * them extend its interfaces.
 *
 * Rules every engine keeps:
 * - One call is one transaction (or one read): its effects become visible together, and its
 *   promise settles only after the commit. A write that backs a `250` (queue.accept) resolves
 *   only once it is durable (fsync).
 * - Arguments and results are plain data (they cross a thread or a network). Nothing here takes
 *   a callback or returns an iterator; where the old repository did (suppressions.iterate,
 *   suppressions.createImporter), a paged or staged operation replaces it.
 * - An illegal status move rejects with FERRY_ERR_ILLEGAL_TRANSITION, a taken key with
 *   FERRY_ERR_EXISTS, anything the engine cannot do with FERRY_ERR_STORE.
 */
import type { FatePlan, FateResult } from './fate.js';
import type { AuditedStore } from './store-audited.js';
import type { LimitsConsoleReads, QueueAdminConsoleReads, RecipientsConsoleReads, StatsConsoleReads, SuppressionsConsoleReads } from './console-store.js';
import type {
  AcceptedMessage,
  AdminRole,
  AdminRow,
  AttemptRow,
  BodyCandidate,
  DestinationFailures,
  DestinationSummary,
  DkimKeyRow,
  DropRow,
  DsnOutboxRow,
  EventInput,
  EventListFilter,
  EventRow,
  LimitFields,
  LimitRow,
  LimitStateRow,
  MessageHead,
  MessageListFilter,
  MessageRow,
  MessageSummary,
  NewRecipient,
  NewSuppression,
  OldestQueued,
  PendingState,
  PruneCounts,
  PurgeResult,
  QueueDepth,
  QueueSelector,
  QuotaStateRow,
  RecipientRow,
  RecordCandidate,
  ScanCursor,
  StatusChange,
  SuppressionFilter,
  SuppressionGrowth,
  SuppressionRow,
  UserQuota,
  UserRow,
  WebhookCursor,
} from './store-types.js';
import type { RecentTlsRow, MtaStsPolicyRow, TlsCountsDelta, TlsPolicyCounts, TlsSentRow } from './tls-store-types.js';

export interface AdminsStore {
  get(name: string): Promise<AdminRow | undefined>;
  list(): Promise<AdminRow[]>;
  /** false when the name is taken. */
  add(name: string, passwordHash: string, role: AdminRole, at: number): Promise<boolean>;
  setPassword(name: string, passwordHash: string, at: number): Promise<boolean>;
  remove(name: string): Promise<boolean>;
}

export interface AttemptsStore {
  insert(a: AttemptRow): Promise<void>;
  /** When the recipient's latest unbroken run of attempts in `category` began; null if its last attempt was not one. */
  streakSince(recipientId: number, category: string): Promise<number | null>;
  forMessage(messageId: string): Promise<AttemptRow[]>;
  /** `ferry tls check`: the latest attempts to a recipient domain (lower-cased), newest first, with their TLS outcome. */
  recentTls(domain: string, limit: number): Promise<RecentTlsRow[]>;
}

export interface DkimKeysStore {
  /** Rejects with FERRY_ERR_EXISTS when (domain, selector) is taken. */
  add(row: DkimKeyRow): Promise<void>;
  list(): Promise<DkimKeyRow[]>;
  /** true when a row was removed. */
  remove(domain: string, selector: string): Promise<boolean>;
  byDomain(domain: string): Promise<DkimKeyRow[]>;
}

/** The DSN outbox; `recipients` is the notifier's own JSON (outcome/dsn-compose DsnRecipient). */
export interface DsnOutboxStore {
  add(messageId: string, recipients: unknown[], at: number): Promise<number>;
  /** Rows after `afterId`, oldest first. */
  list(afterId: number, limit: number): Promise<DsnOutboxRow<unknown>[]>;
  remove(id: number): Promise<void>;
  count(): Promise<number>;
  /**
   * Named operation (was a transaction in outcome/dsn.ts): in ONE transaction, removes outbox row
   * `id` and, when `report` is given, accepts it as queue.accept does, so a report is queued once
   * and never lost. false (nothing written) when the row was already gone: another process (the
   * CLI, another node) queued it.
   */
  queueReport(id: number, report: AcceptedMessage | null): Promise<boolean>;
}

export interface EventsStore {
  /** Returns the new event's id. */
  append(e: EventInput): Promise<number>;
  /** Where a new follower starts (0 when the log is empty): the newest event settledAfter would have delivered. */
  lastId(): Promise<number>;
  forMessage(messageId: string): Promise<EventRow[]>;
  list(filter: EventListFilter): Promise<EventRow[]>;
  /**
   * Events after `afterId`, oldest first, that no transaction still running can precede: what a
   * follower (the webhook sender) may read without skipping one committed late under a lower id.
   * SQLite (one writer, ids in commit order): list({ afterId, limit }).
   */
  settledAfter(afterId: number, limit: number): Promise<EventRow[]>;
  /** How many events match the filter (at most MORE_COUNT_CAP + 1). */
  count(filter: Omit<EventListFilter, 'limit' | 'order'>): Promise<number>;
}

export interface LimitsStore extends LimitsConsoleReads {
  list(): Promise<LimitRow[]>;
  get(target: string): Promise<LimitRow | undefined>;
  /** Creates or replaces the row (every field as given). */
  set(target: string, fields: LimitFields, at: number): Promise<void>;
  remove(target: string): Promise<boolean>;
  states(): Promise<LimitStateRow[]>;
  /** One transaction: the budgets that changed since the last save, and those that emptied. */
  saveStates(rows: LimitStateRow[], gone?: string[]): Promise<void>;
  /**
   * Changes when ANOTHER process (the CLI, another node) committed since the last call: limits
   * are re-read only then. Each engine answers for its own writers (SQLite: data_version of the
   * connection that writes).
   */
  dataVersion(): Promise<number>;
}

export interface MessagesStore {
  insert(row: Omit<MessageRow, 'signedAt'>): Promise<void>;
  get(id: string): Promise<MessageRow | undefined>;
  /**
   * The row for delivery: as get(), except that a large inline body may be left in the store and
   * referred to (bodyRef, body null) for the signing and delivery threads to read themselves
   * (SQLite); an engine that cannot do that answers as get() with bodyRef null.
   */
  head(id: string): Promise<MessageHead | undefined>;
  getSummary(id: string): Promise<MessageSummary | undefined>;
  /** Messages newest first, optionally only those with a recipient matching the filter. */
  list(filter: MessageListFilter): Promise<MessageSummary[]>;
  /** How many messages match the filter, counting no further than `cap` + 1. */
  count(filter: Omit<MessageListFilter, 'limit'>, cap: number): Promise<number>;
  /** (id, file) of every message whose body is a spool file; finished: no recipient can be delivered again. */
  spoolFiles(): Promise<{ id: string; file: string; finished: boolean }[]>;
  /** The body was found missing and has been reported: stop referring to it. false if already marked. */
  markBodyLost(id: string, at: number): Promise<boolean>;
  /** A finished message's spool file is gone: drop the reference quietly. */
  forgetSpoolFile(id: string, at: number): Promise<void>;
  /** Stores the signed header block, once; false if already signed. */
  markSigned(id: string, headers: Buffer, at: number): Promise<boolean>;
  /** null until the message has been prepared for its first delivery. */
  signedAt(id: string): Promise<number | null>;
}

/** The MTA-STS policy cache (RFC 8461 §5): one policy per recipient domain (names are matched lower-cased). */
export interface MtaStsStore {
  get(domain: string): Promise<MtaStsPolicyRow | null>;
  /** Creates or replaces the domain's policy. */
  put(p: MtaStsPolicyRow): Promise<void>;
  delete(domain: string): Promise<void>;
}

export interface QueueAdminStore extends QueueAdminConsoleReads {
  /** Pending recipients per destination domain, the busiest first. */
  summary(now: number, filter?: { domain?: string | undefined; state?: PendingState | undefined }): Promise<DestinationSummary[]>;
  /** Makes the selected pending recipients (not in flight) due now; returns how many. */
  retry(sel: QueueSelector, now: number): Promise<number>;
  /** The selected pending recipients, oldest first: what a purge ends (each through outcome/fate, origin admin-purge). */
  pending(sel: QueueSelector): Promise<RecipientRow[]>;
  messageExists(id: string): Promise<boolean>;
}

export interface QuotaStore {
  get(username: string): Promise<UserQuota | undefined>;
  list(): Promise<UserQuota[]>;
  /** Sets both quotas (null clears one); a row with neither is removed. */
  set(username: string, q: { maxMessagesPerHour: number | null; maxRecipientsPerDay: number | null }, at: number): Promise<void>;
  state(username: string): Promise<QuotaStateRow | undefined>;
  states(): Promise<QuotaStateRow[]>;
  saveStates(rows: QuotaStateRow[]): Promise<void>;
}

export interface RecipientsStore extends RecipientsConsoleReads {
  insert(r: NewRecipient): Promise<number>;
  /** Records that a delay DSN is due for the recipient; false when one already was. */
  markDelayReported(id: number, at: number): Promise<boolean>;
  forMessage(messageId: string): Promise<RecipientRow[]>;
  get(id: number): Promise<RecipientRow | undefined>;
  /** Claims up to `limit` due recipients for `owner` until `until`, oldest due first (a lease). */
  claim(now: number, until: number, owner: string, limit: number): Promise<RecipientRow[]>;
  /**
   * Renews the leases `owner` still holds among `ids` (pending, lease naming it) until `until`
   * (not due before either); returns the ids renewed. An id missing from the answer is no longer
   * this owner's: its fate was written, it was released, or its lease ran out and another node
   * claimed it. One statement for all.
   */
  renew(owner: string, ids: readonly number[], until: number): Promise<number[]>;
  /** Gives a claimed recipient back, due at `at` (no attempt counted). */
  release(id: number, at: number): Promise<void>;
  /** Gives claimed recipients back, each due at its own time (and why it waits), in one transaction. */
  releaseMany(items: { id: number; at: number; reason?: string | null }[]): Promise<void>;
  /** Never-attempted recipients waiting for budget are due now (after a limits change). Returns how many. */
  wakeHeld(now: number): Promise<number>;
  /** Start-up: whatever this node held when it died is due again now. Returns how many. */
  releaseOwned(owner: string, at: number): Promise<number>;
  /** Waiting, not in flight, past their maximum age, and not due again before it. */
  overdue(now: number, maxAgeMs: number, limit: number): Promise<RecipientRow[]>;
  /** The earliest time something becomes due, or null when nothing waits. */
  nextDueAt(): Promise<number | null>;
  /** The provider reported the message as spam (the first complaint's time is kept). */
  markComplained(id: number, at: number): Promise<void>;
  /** The one place a status changes after intake; illegal moves reject (FERRY_ERR_ILLEGAL_TRANSITION). */
  changeStatus(id: number, change: StatusChange): Promise<void>;
}

/** One finished message whose body retention removed or would remove. */
export interface ClearedBody {
  id: string;
  spoolFile: string | null;
  bytes: number;
}

/** One message whose whole record retention removed or would remove. */
export interface PrunedRecord extends PruneCounts {
  id: string;
  spoolFile: string | null;
}

export interface RetentionStore {
  /** The next `limit` messages still holding a body, after `after`. */
  bodies(after: ScanCursor, limit: number): Promise<(BodyCandidate & { createdAt: number })[]>;
  bodyOf(id: string): Promise<BodyCandidate | undefined>;
  /** Deletes the body of a finished message; false when it has none or a recipient is pending. */
  clearBody(id: string, at: number): Promise<boolean>;
  /** The next `limit` messages accepted before `cutoff`, after `after` (finished or not). */
  oldMessages(cutoff: number, after: ScanCursor, limit: number): Promise<RecordCandidate[]>;
  /** Why a message's record must stay, or null when it may go. */
  keepReason(id: string, cutoff: number, sentUpTo: number): Promise<'pending' | 'recent' | 'dsn' | 'webhook' | null>;
  /** What deleting the message would remove (dry run). */
  countRecord(id: string): Promise<PruneCounts>;
  /** Deletes the message and everything recorded about it, in one transaction. */
  deleteRecord(id: string): Promise<PruneCounts>;
  /** The highest event id every configured webhook URL has acknowledged; Infinity when none has a cursor. */
  webhookSentUpTo(urls: readonly string[]): Promise<number>;
  /**
   * Named operation (was a transaction in ops/retention.ts): in ONE transaction, clears the body
   * of each of these messages that is finished and was last changed before `finishedBefore`.
   * Returns what was (dryRun: would be) cleared; the caller unlinks spool files after the commit.
   */
  clearBodies(ids: readonly string[], now: number, finishedBefore: number, dryRun: boolean): Promise<ClearedBody[]>;
  /**
   * Named operation: in ONE transaction, deletes the record of each message that has no reason
   * to stay (see keepReason). Returns the removed records and how many were held back for an
   * unsent DSN or webhook.
   */
  pruneRecords(ids: readonly string[], cutoff: number, sentUpTo: number, dryRun: boolean): Promise<{ pruned: PrunedRecord[]; heldBack: { dsn: number; webhook: number } }>;
}

export interface StatsStore extends StatsConsoleReads {
  queueDepth(): Promise<QueueDepth>;
  oldestQueued(): Promise<OldestQueued | null>;
  recipientsSince(since: number): Promise<{ messages: number; byStatus: Record<string, number> }>;
  topCategories(since: number, limit: number): Promise<{ category: string; count: number }[]>;
  failingDestinations(since: number, limit: number): Promise<DestinationFailures[]>;
  attemptsSince(since: number): Promise<Record<string, number>>;
  lastDelivery(): Promise<{ at: number; messageId: string; mxHost: string | null } | null>;
  spoolBodies(): Promise<number>;
  /** null when this database has no suppression list yet. */
  suppressions(since: number): Promise<SuppressionGrowth | null>;
  /**
   * Readiness: resolves once the engine could take a write now (SQLite: a write transaction on
   * the writing connection; PostgreSQL: a transaction that takes a transaction id), writing
   * nothing; rejects with why not.
   */
  probeWrite(): Promise<void>;
}

export interface SuppressionsStore extends SuppressionsConsoleReads {
  /** The entry that suppresses `address` for `user` (or globally), ignoring expired ones. The RCPT-time hot read. */
  lookup(address: string, domain: string, user: string | null, now: number): Promise<SuppressionRow | undefined>;
  get(address: string, scope: string | null): Promise<SuppressionRow | undefined>;
  /** Every entry for this key, global first, then each user's. */
  forAddress(address: string): Promise<SuppressionRow[]>;
  /** Adds or updates the (address, scope) entry; created: false when it replaced one. */
  upsert(entry: NewSuppression): Promise<{ row: SuppressionRow; created: boolean }>;
  /**
   * Named operation (was a transaction in suppress/unsubscriber.ts): upsert, and when the entry
   * is new, append `event` in the same transaction (a one-click unsubscribe: the entry and its
   * `unsubscribed` event together, never one without the other).
   */
  upsertWithEvent(entry: NewSuppression, event: EventInput): Promise<{ row: SuppressionRow; created: boolean }>;
  remove(address: string, scope: string | null): Promise<boolean>;
  hit(id: number, at: number): Promise<void>;
  /** Records many hits in one transaction: [entry id, how many, latest time]. */
  hitMany(hits: readonly (readonly [id: number, count: number, at: number])[]): Promise<void>;
  list(filter: SuppressionFilter, limit: number): Promise<SuppressionRow[]>;
  count(filter?: SuppressionFilter): Promise<number>;
  /** Deletes every entry matching the filter (an empty filter: all); returns how many. */
  clear(filter: SuppressionFilter): Promise<number>;
  /**
   * Every entry, oldest first, one page at a time: entries with id > afterId. Replaces the
   * repository's iterate(), which held a cursor on the connection (cannot cross a thread).
   */
  page(afterId: number, limit: number): Promise<SuppressionRow[]>;
  /**
   * A staged import, all or nothing (replaces createImporter(), an object holding a connection):
   * importBegin() returns a handle; importStage() adds rows outside the shared tables;
   * importCommit() applies everything staged in ONE transaction and returns how many rows;
   * importAbort() drops what was staged.
   */
  importBegin(): Promise<string>;
  importStage(handle: string, rows: NewSuppression[]): Promise<void>;
  importCommit(handle: string): Promise<number>;
  importAbort(handle: string): Promise<void>;
  /** The 'dropped' events for one address, or every address of a domain (`@domain`), newest first. */
  drops(address: string, limit: number): Promise<DropRow[]>;
}

/** TLS-RPT (RFC 8460) session counts per UTC day, policy domain and policy, and what was sent where. */
export interface TlsReportsStore {
  /** Adds a batch of counts in one transaction (engines may commit it without a full fsync: a lost count only shortens a report). */
  add(deltas: readonly TlsCountsDelta[]): Promise<void>;
  /** Every policy counted on a day, with its failure details. */
  day(day: string): Promise<TlsPolicyCounts[]>;
  /** One policy domain's policies on a day, with their failure details. */
  domain(day: string, policyDomain: string): Promise<TlsPolicyCounts[]>;
  /** Day and policy domain pairs in [from, to] whose report is not finished (no row for destination ''). */
  pending(from: string, to: string): Promise<{ day: string; policyDomain: string }[]>;
  /** Creates or replaces the (day, policyDomain, destination) row. */
  markSent(row: TlsSentRow): Promise<void>;
  sent(day: string, policyDomain: string): Promise<TlsSentRow[]>;
  sentOnDay(day: string): Promise<TlsSentRow[]>;
  /** Forgets counts and send records of days before `day`; returns how many policy rows went. */
  prune(day: string): Promise<number>;
}

/**
 * The RCPT-time suppression read (issue 13: < 10 µs median at 1M entries): the same answers as
 * SuppressionsStore.lookup and .get, but synchronous whenever the engine has the answer at hand,
 * so a recipient check costs no promise and no turn of the event loop. The threaded SQLite engine
 * reads its read-only connection on the calling thread (WAL: never waits for the writer); the
 * in-process engine its one connection; PostgreSQL answers from its LISTEN/NOTIFY-fed cache and
 * returns a promise only on a miss (one round trip, then cached). Never writes: hits are counted
 * with SuppressionsStore.hitMany.
 */
export interface SuppressionLookup {
  lookup(address: string, domain: string, user: string | null, now: number): SuppressionRow | undefined | Promise<SuppressionRow | undefined>;
  get(address: string, scope: string | null): SuppressionRow | undefined | Promise<SuppressionRow | undefined>;
}

export interface UsersStore {
  get(name: string): Promise<UserRow | undefined>;
  list(): Promise<UserRow[]>;
  /** false when the name is taken. */
  add(name: string, passwordHash: string, fromDomains: string[], at: number): Promise<boolean>;
  setPassword(name: string, passwordHash: string, at: number): Promise<boolean>;
  setFromDomains(name: string, fromDomains: string[], at: number): Promise<boolean>;
  setOneClickUnsubscribe(name: string, on: boolean, at: number): Promise<boolean>;
  remove(name: string): Promise<boolean>;
}

export interface WebhooksStore {
  /** Creates the URL's cursor at `startAfterId` unless it exists; returns the cursor. */
  ensure(url: string, startAfterId: number, at: number): Promise<WebhookCursor>;
  get(url: string): Promise<WebhookCursor | undefined>;
  list(): Promise<WebhookCursor[]>;
  /** After a 2xx: everything up to lastEventId was delivered (the cursor only moves forward). */
  advance(url: string, lastEventId: number, at: number): Promise<void>;
  fail(url: string, error: string, at: number): Promise<void>;
  /** Takes (or renews) the right to send to `url` until `until`; false while another node holds it. */
  lease(url: string, owner: string, now: number, until: number): Promise<boolean>;
  release(url: string, owner: string): Promise<void>;
}

/** The queue's multi-table writes (src/store/queue-store.ts). */
export interface QueueStoreOps {
  /**
   * Commits accepted messages with their recipients, events and the fates of recipients dropped
   * at intake (AcceptedMessage.dropFates). Each call is committed as a unit (engines group
   * concurrent calls into one transaction and one fsync, each call isolated so one failure does
   * not fail the others); resolves only after the fsync that covers it: the 250 promise. Returns
   * the drop fates written, for outcome/fate's after-commit hook.
   */
  accept(batch: AcceptedMessage[]): Promise<FateResult[]>;
  /**
   * Named operation (was a transaction in tlsrpt/reporter.ts): in ONE transaction, accepts a TLS
   * report mail (as accept does) and records each rua destination it was queued for (the TLS-RPT
   * sent rows, state 'queued'): queued once, never twice.
   */
  acceptTlsReport(mail: AcceptedMessage, sent: readonly TlsReportQueuedRow[]): Promise<void>;
}

/** A TLS-RPT destination a report mail was queued for (a row of tls_report_sent). */
export interface TlsReportQueuedRow {
  day: string;
  policyDomain: string;
  /** The rua URI. */
  destination: string;
  state: 'queued';
  reportId: string | null;
  detail: string | null;
  at: number;
}

/**
 * outcome/fate's write plans (src/store/fate-writes.ts): plain-data plans executed in one
 * transaction; a plan the recipient's current status makes illegal writes nothing.
 */
export interface FatesStore {
  record(plans: readonly FatePlan[]): Promise<FateResult[]>;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly admins: AdminsStore;
  readonly attempts: AttemptsStore;
  readonly dkimKeys: DkimKeysStore;
  readonly dsnOutbox: DsnOutboxStore;
  readonly events: EventsStore;
  readonly limits: LimitsStore;
  readonly messages: MessagesStore;
  readonly mtaSts: MtaStsStore;
  readonly queueAdmin: QueueAdminStore;
  readonly quota: QuotaStore;
  readonly recipients: RecipientsStore;
  readonly retention: RetentionStore;
  readonly stats: StatsStore;
  readonly suppressions: SuppressionsStore;
  readonly tlsReports: TlsReportsStore;
  readonly users: UsersStore;
  readonly webhooks: WebhooksStore;
  readonly queue: QueueStoreOps;
  readonly fates: FatesStore;
  /** An operator's changes, each with the event naming who made it, in one transaction (core/store-audited.ts). */
  readonly audited: AuditedStore;
  /** The RCPT-time suppression read, synchronous where the engine can answer at once (see SuppressionLookup). */
  readonly suppressionLookup: SuppressionLookup;
  /** Waits for work in flight (every write committed), then releases the engine's connections. */
  close(): Promise<void>;
}

/** The groups by name (engines and the contract suite iterate over them). */
export const STORE_GROUPS = [
  'admins',
  'attempts',
  'dkimKeys',
  'dsnOutbox',
  'events',
  'limits',
  'messages',
  'mtaSts',
  'queueAdmin',
  'quota',
  'recipients',
  'retention',
  'stats',
  'suppressions',
  'tlsReports',
  'users',
  'webhooks',
  'queue',
  'fates',
  'audited',
] as const;

export type StoreGroup = (typeof STORE_GROUPS)[number];
