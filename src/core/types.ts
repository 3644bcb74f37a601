/**
 * Shared vocabulary of the pipeline. Every stage speaks these types; none of them knows
 * how another stage stores or computes them.
 */

/** A recipient's life: queued → (deferred)* → delivered | bounced | expired, or dropped at intake. */
export const RECIPIENT_STATUSES = ['queued', 'deferred', 'delivered', 'bounced', 'dropped', 'expired'] as const;

/** Events that record what a person did in the web console (each names the account). */
export const CONSOLE_EVENT_TYPES = [
  'suppression_added',
  'suppression_removed',
  'suppressions_cleared',
  'suppressions_imported',
  'queue_retried',
  'queue_purged',
  'limit_changed',
  'limit_removed',
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** Statuses after which nothing more is attempted for a recipient. */
export const FINAL_STATUSES: ReadonlySet<RecipientStatus> = new Set(['delivered', 'bounced', 'dropped', 'expired']);

/** DESIGN.md bounce categories. */
export const BOUNCE_CATEGORIES = [
  'user_unknown',
  'domain_invalid',
  'mailbox_disabled',
  'mailbox_full',
  'rate_limited',
  'blocked',
  'spam_content',
  'policy',
  'message_too_large',
  'temporary',
  'other',
] as const;
export type BounceCategory = (typeof BOUNCE_CATEGORIES)[number];

/** Failures that happened before any SMTP reply was read. */
export const NETWORK_ERROR_KINDS = ['dns', 'connect', 'tls', 'timeout', 'protocol', 'local'] as const;
export type NetworkErrorKind = (typeof NETWORK_ERROR_KINDS)[number];

/** One SMTP reply as read from a remote server (multi-line replies joined with a space). */
export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code ("5.1.1"), or null when the reply has none. */
  enhanced: string | null;
  /** The whole reply text, code prefixes included, lines joined with a space. */
  text: string;
}

/** What the classifier is asked about: a reply, or a failure that produced none. */
export type ClassifyInput =
  | { kind: 'reply'; reply: SmtpReply }
  | { kind: 'error'; error: NetworkErrorKind; message: string };

/** The classifier's verdict on one reply or failure. */
export interface Classification {
  category: BounceCategory;
  /** true: do not retry. */
  permanent: boolean;
  /** true: put the address on the suppression list. */
  suppress: boolean;
  /** The id of the rule that matched, so the decision is explainable and testable. */
  rule: string;
}

export interface Classifier {
  classify(input: ClassifyInput): Classification;
}

/** TLS facts of one connection. */
export interface TlsInfo {
  protocol: string | null;
  cipher: string | null;
  /** outbound: the certificate was valid for the MX name, or matched its TLSA records */
  verified?: boolean;
  /** outbound: the policy that governed the session (none, sts-testing, sts-enforce, dane) */
  policy?: 'none' | 'sts-testing' | 'sts-enforce' | 'dane';
  /** outbound: the session's RFC 8460 result (success or a failure type) */
  result?: string;
  /** outbound: sent in clear text after STARTTLS failed (opportunistic fallback) */
  cleartextFallback?: boolean;
}
