import type { RecipientStatus } from './types.js';

/**
 * A recipient's fate, as data. `outcome/fate` decides what a fact means for a recipient and
 * writes it down as a FatePlan; the store executes plans (`recordFates`) in one transaction and
 * says which were applied. Plans are plain serialisable data (no closures, no Buffers): they may
 * cross a thread boundary to the store's writer.
 */

/** Where a fate comes from. */
export const FATE_ORIGINS = ['attempt', 'async-bounce', 'complaint', 'lost-body', 'admin-purge', 'intake-drop', 'expiry'] as const;
export type FateOrigin = (typeof FATE_ORIGINS)[number];

/** The recipient as the caller read it (a RecipientRow satisfies it). */
export interface FateRecipient {
  id: number;
  messageId: string;
  address: string;
  domain: string;
  status: RecipientStatus;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  lastReply: string | null;
  lastCode: number | null;
  lastEnhanced: string | null;
  category: string | null;
  mxHost: string | null;
  leaseUntil: number | null;
  /** The owner whose claim this row came from (a claimed row); absent/null: not known. */
  leaseOwner?: string | null;
  dsnNotify: readonly string[] | null;
  dsnDelayAt: number | null;
}

/** What was decided, kept on the plan for what runs after the commit (logs, metrics, throttle). */
export interface FateVerdict {
  /** The status after the fate (unchanged for a complaint). */
  status: RecipientStatus;
  category: string | null;
  /** The classifier rule that gave the category, if any. */
  rule: string | null;
  permanent: boolean;
  suppress: boolean;
  reply: string | null;
  code: number | null;
  enhanced: string | null;
  nextAttemptAt: number | null;
}

/** The status write (the recipients row). */
export interface FateStatusWrite {
  status: RecipientStatus;
  nextAttemptAt: number | null;
  /** true: counts as an attempt. */
  attempted: boolean;
  code: number | null;
  enhanced: string | null;
  /** null keeps the recorded reply. */
  reply: string | null;
  /** null keeps the recorded category. */
  category: string | null;
  mxHost: string | null;
  remoteIp: string | null;
  tlsProtocol: string | null;
  tlsCipher: string | null;
}

/** One row of the attempts table (only a delivery attempt writes one). */
export interface FateAttemptWrite {
  at: number;
  durationMs: number | null;
  result: 'delivered' | 'deferred' | 'bounced' | 'expired';
  phase: string | null;
  mxHost: string | null;
  ip: string | null;
  port: number | null;
  tlsProtocol: string | null;
  tlsCipher: string | null;
  /** the certificate was valid for the MX name (or matched TLSA); null: no TLS outcome known */
  tlsVerified?: boolean | null;
  /** the outbound TLS policy applied (deliver/tls-policy): none, sts-testing, sts-enforce, dane */
  tlsPolicy?: string | null;
  /** RFC 8460 result of the session (success or a failure type) */
  tlsResult?: string | null;
  code: number | null;
  enhanced: string | null;
  reply: string | null;
  rcptReply: string | null;
  errorKind: string | null;
  error: string | null;
  category: string | null;
  rule: string | null;
  hops: unknown[] | null;
}

export interface FateEventWrite {
  type: string;
  status: string | null;
  category: string | null;
  detail: Record<string, unknown> | null;
}

/** A suppression list entry, already normalised (address key, domain, known category). */
export interface FateSuppressionWrite {
  address: string;
  domain: string;
  category: string;
  reason: string;
  source: 'bounce' | 'complaint';
  /** Scoped to one SMTP user; null: global. */
  scope: string | null;
}

/** One recipient's line of a delivery status notification, as the DSN composer reads it (JSON). */
export interface FateDsnEntry {
  address: string;
  kind: string;
  [field: string]: unknown;
}

export interface FatePlan {
  origin: FateOrigin;
  recipientId: number;
  messageId: string;
  address: string;
  domain: string;
  /** When the message was accepted (metrics: accept → fate). */
  acceptedAt: number;
  at: number;
  /**
   * The legality check: the plan applies only while the recipient (re-read inside the
   * transaction) is in one of these statuses; otherwise nothing of it is written.
   */
  from: readonly RecipientStatus[];
  /** Not applied while a worker's lease on the recipient runs past this time (expiry sweeps); null: regardless. */
  unlessLeasedAfter: number | null;
  /**
   * An attempt's outcome: the owner whose claim made the attempt. Not applied while the
   * recipient's lease names another owner (this node's lease ran out and another node claimed
   * the recipient: that node's attempt decides); absent/null: regardless of leases.
   */
  leaseOwner?: string | null;
  verdict: FateVerdict;
  /** null: the status does not change (a complaint, a recipient born dropped at intake). */
  status: FateStatusWrite | null;
  /** A complaint: the recipient shows "spam" from now on. */
  complained: boolean;
  attempt: FateAttemptWrite | null;
  event: FateEventWrite;
  suppression: FateSuppressionWrite | null;
  /** The DSN outbox line for the envelope sender; grouped per message into one report. */
  dsn: FateDsnEntry | null;
  /** A delay report is sent at most once per recipient: the store records only the first. */
  dsnOnce: 'delay' | null;
  /** The message's stored body is lost: the message row stops pointing at it. */
  bodyLost: boolean;
}

export interface FateResult {
  plan: FatePlan;
  /** false: the recipient was gone or its status made the plan illegal; nothing was written. */
  applied: boolean;
  /** The status found inside the transaction (null: the recipient no longer exists). */
  previousStatus: RecipientStatus | null;
  /** A DSN line was written to the outbox for it. */
  dsnRecorded: boolean;
}

/** The store operation that records fates: one transaction for all plans. */
export type RecordFates = (plans: readonly FatePlan[]) => Promise<FateResult[]>;
