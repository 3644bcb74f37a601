/**
 * The contract of the checks at end of DATA (sender domains, the DMARC guard, quotas): what a
 * check sees of the message that receive/ is taking in, and what it may answer. receive/ runs
 * the checks; policy/ and throttle/ write them.
 */

/** A recipient as decided at RCPT time. */
export interface IntakeRecipient {
  address: string;
  domain: string;
  status: 'queued' | 'dropped';
  reason: string | null;
  category: string | null;
  /** RFC 3461 NOTIFY / ORCPT from RCPT TO; null/absent: not given. */
  dsnNotify?: readonly string[] | null;
  dsnOrcpt?: string | null;
}

/** What intake knows about the SMTP session a message arrived on. */
export interface IntakeSession {
  sessionId: string;
  clientIp: string | null;
  clientHostname: string | null;
  helo: string | null;
  tls: string | null;
  username: string | null;
  /** The authenticated user's allowed sender domains (empty: any). */
  allowedFromDomains: readonly string[] | null;
  sender: string;
  recipients: IntakeRecipient[];
  smtputf8: boolean;
  /** Why the message is accepted without AUTH / with it, for the Received header. */
  protocol: 'ESMTP' | 'ESMTPS' | 'ESMTPA' | 'ESMTPSA';
  /** RFC 3461 RET / ENVID from MAIL FROM; null/absent: not given. */
  dsnRet?: 'FULL' | 'HDRS' | null;
  dsnEnvid?: string | null;
  /** The user's setting: add one-click unsubscribe headers (the message may also ask, see below). */
  oneClickUnsubscribe?: boolean;
  /** RFC 8689: REQUIRETLS on MAIL FROM (only possible over TLS). */
  requireTls?: boolean;
}

/** One mailbox of an address header, as nodemailer's addressparser reads it. */
export interface Mailbox {
  address: string;
  name: string | null;
}

/** What an address header (From, Sender) holds. */
export interface AddressHeaderFacts {
  /** How many such headers the block has (RFC 5322 allows one). */
  count: number;
  /** The mailboxes of the first such header, in order (entries without an address included, address ''). */
  mailboxes: Mailbox[];
  /** The first header uses group syntax ("name: a@b, c@d;"). */
  group: boolean;
  /** The first header's value was longer than ADDRESS_HEADER_MAX_CHARS and was not parsed past it. */
  tooLong: boolean;
  /**
   * '@' and '<' signs of the first header outside quoted strings and comments: a second one
   * means a second address, whatever the address parser made of it ("a@x.test b@y.test" is
   * one mailbox named "b@y.test" to addressparser, but not to every receiver).
   */
  outsideAt: number;
  outsideAngle: number;
}

/** The few header facts intake needs, read from the captured header block (receive/headers.ts). */
export interface HeaderFacts {
  fromAddress: string | null;
  fromName: string | null;
  /** Count of From headers (RFC 5322 allows one; more is a spoofing trick). */
  fromCount: number;
  from: AddressHeaderFacts;
  sender: AddressHeaderFacts;
  /** The block starts with a continuation line that belongs to no field. */
  orphanContinuation: boolean;
  messageId: string | null;
  subject: string | null;
}

export interface MessageCheckContext {
  session: IntakeSession;
  headers: HeaderFacts;
  headerBlock: Buffer;
}

/**
 * A check at end of DATA. Returning a Buffer replaces the header block (e.g. the DMARC guard's
 * rewrite); throwing a FerryError with responseCode refuses the message with that reply.
 */
export type MessageCheck = (ctx: MessageCheckContext) => Promise<Buffer | void>;
