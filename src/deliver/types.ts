import type { NetworkErrorKind, SmtpReply, TlsInfo } from '../core/types.js';
import type { StoredBodyRef } from '../core/store-types.js';
import type { TlsPolicyApplied, TlsResultType } from '../core/tls.js';
import type { TlsaRecord } from './tls-policy/tlsa-match.js';

/**
 * The facts of a delivery attempt. deliver fills these in; classify reads them; nothing here
 * says what a reply *means*.
 */

export interface DeliveryError {
  kind: NetworkErrorKind;
  message: string;
}

/** One address of one MX host tried while opening a session (or refused before trying). */
export interface HopTry {
  host: string;
  /** null when the host could not be resolved to an address */
  ip: string | null;
  port: number;
  /** MX preference; null for static routes and the implicit MX (A/AAAA fallback) */
  preference: number | null;
  startedAt: number;
  durationMs: number;
  /** policy_refused: MTA-STS enforce does not list the host; tls_failed also covers a failed DANE lookup */
  result: 'connected' | 'connect_failed' | 'greeting_rejected' | 'tls_failed' | 'auth_failed' | 'refused_private' | 'dns_failed' | 'policy_refused';
  /** the server's reply when it gave one (a 4xx/5xx greeting, a refused STARTTLS, ...) */
  reply?: SmtpReply;
  error?: DeliveryError;
  /** what TLS came to on this try (absent when it never got that far) */
  tls?: HopTlsOutcome;
}

/**
 * How much TLS a hop demands, weakest first. may: STARTTLS when offered, anything goes (RFC 7435);
 * encrypt: TLS required, any certificate (Postfix "encrypt"); verify: TLS with a certificate
 * valid for the MX name (MTA-STS enforce, "TLS required"); dane: TLS with a chain matching the
 * host's TLSA records (RFC 7672).
 */
export type TlsLevel = 'may' | 'encrypt' | 'verify' | 'dane';

export interface HopTls {
  /** never send in clear text: a server without STARTTLS fails closed (level is not 'may') */
  required: boolean;
  /** TLS from the first byte (port 465 style) */
  implicit: boolean;
  /** absent: 'verify' when required, else 'may' */
  level?: TlsLevel;
  /** the policy that set the level, for the attempt record and TLS-RPT */
  policy?: TlsPolicyApplied;
  /** dane: the usable TLSA records the presented chain must match */
  tlsa?: TlsaRecord[];
  /** do not even offer STARTTLS: the one clear-text retry after a failed handshake (level may) */
  cleartext?: boolean;
}

/** The TLS facts of one try. */
export interface HopTlsOutcome {
  policy: TlsPolicyApplied;
  result: TlsResultType;
  verified: boolean;
  protocol: string | null;
  cipher: string | null;
  detail: string | null;
  /** this try went in clear text after STARTTLS failed on the previous one */
  cleartextFallback?: boolean;
}

/** One next hop, in the order it should be tried. */
export interface Hop {
  host: string;
  port: number;
  preference: number | null;
  /** usable addresses, in the order to try them */
  addresses: string[];
  tls: HopTls;
  auth: { user: string; pass: string } | null;
}

export type RouteFailureReason = 'null_mx' | 'nxdomain' | 'no_address' | 'all_private' | 'dns_error';

export type RouteResult =
  | { ok: true; domain: string; source: 'static' | 'mx' | 'implicit'; hops: Hop[]; tries: HopTry[] }
  | {
      ok: false;
      domain: string;
      /** true: the domain cannot receive mail (NXDOMAIN, null MX); false: try again later */
      permanent: boolean;
      reason: RouteFailureReason;
      message: string;
      /** hosts that were refused or could not be resolved */
      tries: HopTry[];
    };

/** What the caller hands to a session for one transaction. */
export interface OutgoingMessage {
  id: string;
  /** '' is the null sender (bounces) */
  from: string;
  to: string[];
  size: number;
  /** the body has bytes > 127: needs 8BITMIME */
  eightBit: boolean;
  /** the submitter asked for SMTPUTF8 */
  smtputf8: boolean;
  /** a fresh stream of the exact bytes to send (CRLF line endings, ending with CRLF) */
  body: () => NodeJS.ReadableStream;
  /**
   * The same bytes as plain data another thread can read itself (the delivery thread,
   * session-thread.ts): header block, then the inline body or the spool file at an absolute
   * path, or the store row the body was left in (row: the delivery thread reads it with its own
   * connection). Absent, or null: only `body` can give them (they are pulled across).
   */
  bodySource?: () => { headers: Buffer; inline: Buffer | null; file: string | null; row?: StoredBodyRef | null } | null;
  /** RFC 3461 parameters, passed on when the server announces DSN (one NOTIFY/ORCPT for all recipients) */
  dsn?: OutgoingDsn;
  /** RFC 8689: the submitter gave REQUIRETLS (see require-tls.ts) */
  requireTls?: boolean;
  /** RFC 8689 §5: the message has `TLS-Required: No` */
  tlsRequiredNo?: boolean;
}

export interface OutgoingDsn {
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  notify?: string[];
  orcpt?: string;
}

/**
 * Where a recipient's transaction stopped. mail: MAIL FROM refused; rcpt: its own RCPT refused;
 * data: the DATA command or the transfer failed (connection lost, timeout); message: the reply
 * to the final dot was a refusal, or Ferry refused to send the content (8-bit/SMTPUTF8/SIZE).
 */
export type RecipientPhase = 'route' | 'connect' | 'mail' | 'rcpt' | 'data' | 'message';

export type RecipientOutcome =
  | { address: string; ok: true; reply: SmtpReply; rcptReply?: SmtpReply }
  | {
      address: string;
      ok: false;
      phase: RecipientPhase;
      reply?: SmtpReply;
      /** What the server said to this recipient's RCPT TO, when it was accepted there and the transaction failed later. */
      rcptReply?: SmtpReply;
      error?: DeliveryError;
      /** a local decision that no retry can change (e.g. 8-bit body, server without 8BITMIME) */
      permanentLocal?: boolean;
      /** why Ferry did not send, when permanentLocal */
      localReason?: 'eight_bit' | 'smtputf8' | 'size' | 'requiretls';
    };

export interface TransactionReport {
  messageId: string;
  hop: { host: string; ip: string; port: number; tls: TlsInfo | null };
  recipients: RecipientOutcome[];
  /** false: the connection cannot be used again; open a new session */
  sessionUsable: boolean;
  /**
   * true: the connection was found closed before the server answered anything of this
   * transaction (a server that closes after a message): nothing was sent, the message can go
   * over a new session at once. The recipients still say what happened, as failures.
   */
  notSent?: true;
  startedAt: number;
  durationMs: number;
}

export interface DeliveryTimeouts {
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
}
