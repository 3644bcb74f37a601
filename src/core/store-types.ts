import type { FateAttemptWrite, FatePlan, FateResult } from './fate.js';
/**
 * The rows and inputs of the store, shared by every engine (SQLite, PostgreSQL) and by the
 * stages that call it. Plain data only: nothing here knows SQL or a connection, so a value
 * crosses a worker thread (structured clone) or a network unchanged — Buffers arrive as
 * Uint8Array and each engine turns them back.
 */
import type { RecipientStatus } from './types.js';

export const ADMIN_ROLES = ['admin', 'support'] as const;

export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminRow {
  name: string;
  passwordHash: string;
  role: AdminRole;
  createdAt: number;
  updatedAt: number;
}

export interface AttemptRow extends Omit<FateAttemptWrite, 'rcptReply'> {
  id?: number;
  recipientId: number;
  messageId: string;
  /** The reply to this recipient's RCPT TO, when the attempt got that far. */
  rcptReply?: string | null;
}

/** One DKIM key reference: the private key lives in `keyFile`, the row says whose it is. */
export interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: 'rsa' | 'ed25519';
  keyFile: string;
  /** base64 p= value */
  publicKey: string;
  createdAt: number;
}

/** One due report: the failed recipients of one original message, as the DSN will describe them. */
export interface DsnOutboxRow<R> {
  id: number;
  messageId: string;
  recipients: R[];
  createdAt: number;
}

export interface EventInput {
  at: number;
  messageId: string;
  recipientId: number | null;
  recipient: string | null;
  type: string;
  status: string | null;
  category: string | null;
  detail: Record<string, unknown> | null;
}

export interface EventRow extends EventInput {
  id: number;
}

export interface EventListFilter {
  since?: number | undefined;
  type?: string | undefined;
  afterId?: number | undefined;
  messageId?: string | undefined;
  /** Only events older than this id (keyset paging, newest first). */
  beforeId?: number | undefined;
  /** 'asc' (default): oldest first, for followers; 'desc': newest first, for people. */
  order?: 'asc' | 'desc' | undefined;
  limit: number;
}

/** Counting what is left beyond a page stops here ("100000+ more"): a count is never a full scan. */
export const MORE_COUNT_CAP = 100_000;

/** One configured limit. null: not set on this row (falls back to 'default', then built-in). */
export interface LimitRow {
  target: string;
  perMinute: number | null;
  perHour: number | null;
  perDay: number | null;
  connections: number | null;
  perConnection: number | null;
  createdAt: number;
  updatedAt: number;
}

export type LimitFields = Pick<LimitRow, 'perMinute' | 'perHour' | 'perDay' | 'connections' | 'perConnection'>;

/** The persisted live state of one budget (see migration 005). */
export interface LimitStateRow {
  bucket: string;
  target: string;
  /** JSON: { minute: [[slot, count], ...], hour: ..., day: ... } */
  windows: string;
  connections: number;
  slowPerMinute: number | null;
  slowRestoreTo: number | null;
  slowSince: number | null;
  slowUntil: number | null;
  slowNextStepAt: number | null;
  slowLastHalvedAt: number | null;
  slowReason: string | null;
  updatedAt: number;
}

/** A message as stored. `body`/`spoolFile` say where its bytes are. */
export interface MessageRow {
  id: string;
  createdAt: number;
  sender: string;
  username: string | null;
  clientIp: string | null;
  helo: string | null;
  tls: string | null;
  size: number;
  headers: Buffer;
  body: Buffer | null;
  spoolFile: string | null;
  headerFrom: string | null;
  messageIdHeader: string | null;
  subject: string | null;
  eightBit: boolean;
  smtputf8: boolean;
  /** tlsrpt: an RFC 8460 aggregate report Ferry wrote itself (src/tlsrpt). */
  kind: 'submission' | 'dsn' | 'tlsrpt';
  /** When the message was signed and its headers frozen for delivery; null before. */
  signedAt: number | null;
  /** RFC 3461 RET (FULL: return the whole message in a failure DSN; HDRS: headers only); null/absent: not given. */
  dsnRet?: 'FULL' | 'HDRS' | null;
  /** RFC 3461 ENVID as the client gave it (xtext-decoded); null/absent: not given. */
  dsnEnvid?: string | null;
  /** Ferry adds its own List-Unsubscribe (one-click, RFC 8058) for each recipient. */
  listUnsubscribe?: boolean;
  /** RFC 8689: the client gave REQUIRETLS on MAIL FROM (migration 019). */
  requireTls?: boolean;
}

export type MessageSummary = Omit<MessageRow, 'body' | 'headers'>;

/**
 * A body left where the store keeps it (messages.head): the SQLite file and the message's id. The
 * thread that signs or sends the message reads it with a connection of its own
 * (store/sqlite/stored-bodies.ts), so the SMTP thread neither reads nor copies it. bytes: its length.
 */
export interface StoredBodyRef {
  db: string;
  id: string;
  bytes: number;
}

/** A message as delivery starts it: the row, its body either read (`body`) or left in the store (`bodyRef`). */
export type MessageHead = MessageRow & { bodyRef: StoredBodyRef | null };

export interface MessageListFilter {
  status?: string | undefined;
  since?: number | undefined;
  recipient?: string | undefined;
  /** Only messages older than this one (keyset paging by accepted time, then id). */
  before?: { createdAt: number; id: string } | undefined;
  limit: number;
}

/** Intake quotas of one SMTP user. null: no quota of that kind. */
export interface UserQuota {
  username: string;
  maxMessagesPerHour: number | null;
  maxRecipientsPerDay: number | null;
  updatedAt: number;
}

export interface QuotaStateRow {
  username: string;
  /** JSON, the same shape as limit_state.windows. */
  windows: string;
  updatedAt: number;
}

/** The wait reason of a recipient handed back to wait for its destination's rate budget. */
export const RATE_LIMITED = 'rate limited';

export interface RecipientRow {
  id: number;
  messageId: string;
  address: string;
  domain: string;
  status: RecipientStatus;
  attempts: number;
  nextAttemptAt: number | null;
  leaseUntil: number | null;
  /** Set on the rows a claim returns: the owner (node) that claimed them. Absent on other reads. */
  leaseOwner?: string | null;
  createdAt: number;
  updatedAt: number;
  lastCode: number | null;
  lastEnhanced: string | null;
  lastReply: string | null;
  category: string | null;
  mxHost: string | null;
  remoteIp: string | null;
  tlsProtocol: string | null;
  tlsCipher: string | null;
  /** RFC 3461 NOTIFY values (NEVER, or some of SUCCESS, FAILURE, DELAY); null: not given. */
  dsnNotify: string[] | null;
  /** RFC 3461 ORCPT, "addr-type;address" (xtext-decoded); null: not given. */
  dsnOrcpt: string | null;
  /** When a delay DSN was recorded for this recipient; null: none yet. */
  dsnDelayAt: number | null;
  /** Why a waiting recipient is held back until nextAttemptAt (e.g. "rate limited"); null otherwise. */
  waitReason: string | null;
  /** When the recipient's provider reported the delivered message as spam (ARF); null: never. */
  complainedAt: number | null;
}

export interface NewRecipient {
  messageId: string;
  address: string;
  domain: string;
  status: 'queued' | 'dropped';
  at: number;
  reason: string | null;
  category: string | null;
  /** RFC 3461 NOTIFY values; null/absent: not given. */
  dsnNotify?: readonly string[] | null;
  /** RFC 3461 ORCPT; null/absent: not given. */
  dsnOrcpt?: string | null;
}

/** Fields an outcome may set along with the status. */
export interface StatusChange {
  status: RecipientStatus;
  at: number;
  nextAttemptAt: number | null;
  /** true: count this as an attempt. */
  attempted: boolean;
  code?: number | null;
  enhanced?: string | null;
  reply?: string | null;
  category?: string | null;
  mxHost?: string | null;
  remoteIp?: string | null;
  tlsProtocol?: string | null;
  tlsCipher?: string | null;
}

/** Where a scan stopped; the next batch starts after it. */
export interface ScanCursor {
  createdAt: number;
  id: string;
}

export const SCAN_START: ScanCursor = { createdAt: -Infinity, id: '' };

export interface BodyCandidate {
  id: string;
  spoolFile: string | null;
  /** Bytes of the body (inline or in the spool file). */
  bytes: number;
  /** Some recipient may still be delivered: the body stays. */
  pending: boolean;
  /** When the last recipient changed (became final, for a finished message). */
  finishedAt: number;
}

export interface RecordCandidate {
  id: string;
  spoolFile: string | null;
  createdAt: number;
}

export interface PruneCounts {
  recipients: number;
  attempts: number;
  events: number;
}

/** Recipients waiting for delivery, by status (queued, deferred). */
export interface QueueDepth {
  queued: number;
  deferred: number;
}

export interface OldestQueued {
  messageId: string;
  recipient: string;
  domain: string;
  status: string;
  createdAt: number;
  attempts: number;
  lastReply: string | null;
}

export interface DestinationFailures {
  domain: string;
  deferred: number;
  bounced: number;
}

export interface SuppressionGrowth {
  total: number;
  added: number;
}

export const SUPPRESSION_SOURCES = ['bounce', 'complaint', 'manual', 'import', 'one-click'] as const;

export type SuppressionSource = (typeof SUPPRESSION_SOURCES)[number];

export interface NewSuppression {
  /** Normalized key: `local@domain` lower-cased, IDN domain in punycode; `@domain` for a domain entry. */
  address: string;
  domain: string;
  category: string;
  reason: string;
  source: SuppressionSource;
  /** null: global; else the SMTP user the entry applies to. */
  scope: string | null;
  createdAt: number;
  expiresAt: number | null;
}

export interface SuppressionRow extends NewSuppression {
  id: number;
  hits: number;
  lastHitAt: number | null;
}

export interface SuppressionFilter {
  domain?: string | undefined;
  category?: string | undefined;
  source?: string | undefined;
  /** created at or after */
  since?: number | undefined;
  /** created before */
  before?: number | undefined;
  /** substring of the address or the reason (case-insensitive) */
  search?: string | undefined;
  /** '' or null: global entries only; a name: that user's entries; undefined: all */
  scope?: string | null | undefined;
}

/** A message a suppression dropped, read from the event log. */
export interface DropRow {
  at: number;
  messageId: string;
  recipient: string;
  sender: string | null;
  username: string | null;
  reason: string | null;
}

export interface UserRow {
  name: string;
  passwordHash: string;
  fromDomains: string[];
  createdAt: number;
  updatedAt: number;
  /** Ferry adds a one-click List-Unsubscribe (RFC 8058) to every message this user sends. */
  oneClickUnsubscribe: boolean;
}

/** One webhook URL's place in the event log. */
export interface WebhookCursor {
  url: string;
  /** Every event with an id up to this one was acknowledged (2xx) by the URL. */
  lastEventId: number;
  createdAt: number;
  updatedAt: number;
  /** Consecutive failed POSTs since the last success. */
  failures: number;
  lastError: string | null;
  lastAttemptAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

/** A message ready to be committed at end of DATA, with what intake decided for each recipient. */
export interface AcceptedMessage {
  message: Omit<MessageRow, 'signedAt'>;
  recipients: Omit<NewRecipient, 'messageId' | 'at'>[];
  /**
   * The fates of the recipients born dropped (suppressed at intake), planned by outcome/fate
   * before the commit, in the order of those recipients: the engine fills in their ids and writes
   * them in the intake transaction. Plain data: a store operation never calls back into a stage.
   */
  dropFates?: FatePlan[] | undefined;
}

/** Pending recipients as the admin sees them: waiting (queued, deferred) or held by a worker. */
export type PendingState = 'queued' | 'deferred' | 'in-flight';
export const PENDING_STATES: readonly PendingState[] = ['queued', 'deferred', 'in-flight'];

export interface DestinationSummary {
  domain: string;
  queued: number;
  deferred: number;
  inFlight: number;
  /** when the oldest waiting message of this destination was accepted */
  oldestCreatedAt: number;
  /** the earliest next attempt of a recipient not in flight; null when all are in flight */
  nextAttemptAt: number | null;
  /** recipients handed back to wait for the destination's rate budget, and when the first may go */
  rateLimited: number;
  rateLimitedUntil: number | null;
}

export interface QueueSelector {
  /** one message's pending recipients */
  messageId?: string | undefined;
  /** every pending recipient of this destination domain */
  domain?: string | undefined;
  /** every pending recipient */
  all?: boolean | undefined;
}

export interface PurgeResult {
  purged: number;
  /** of those, how many a worker was delivering at that moment (their attempt may still land) */
  inFlight: number;
}
