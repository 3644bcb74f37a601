/**
 * The contracts between the SMTP listener (receive/) and the verdicts it asks for at AUTH, MAIL
 * FROM and RCPT TO: policy/ answers who may send, suppress/ and throttle/ answer per sender and
 * per recipient. The listener depends on these shapes only, never on who implements them.
 */

/**
 * An address as the listener read it: the domain lower-cased and IDNs in punycode, the local
 * part kept as sent (policy/addresses.ts parses it).
 */
export interface ParsedAddress {
  address: string;
  local: string;
  domain: string;
  /** The local part needs SMTPUTF8 (non-ASCII). */
  utf8Local: boolean;
}

/** What the listener needs to know about an authenticated user. */
export interface AuthenticatedUser {
  name: string;
  fromDomains: readonly string[];
  /** Ferry adds one-click unsubscribe headers to this user's mail. */
  oneClickUnsubscribe?: boolean;
}

export interface Authenticator {
  /** null: wrong name or password (the caller does not learn which). */
  verify(name: string, password: string): Promise<AuthenticatedUser | null>;
}

export type RecipientDecision =
  | { action: 'accept' }
  | { action: 'drop'; reason: string; category: string }
  | { action: 'reject'; code: number; text: string };

/**
 * Per-recipient policy at RCPT time (suppression, quotas). Answers synchronously when it can (a
 * SQLite lookup, a cached answer) and with a promise only when it must wait (a PostgreSQL cache
 * miss): the listener awaits only then.
 */
export interface RecipientPolicy {
  check(address: ParsedAddress, user: AuthenticatedUser | null): RecipientDecision | Promise<RecipientDecision>;
}

/**
 * Per-transaction policy at MAIL FROM (message quotas). null: go on; else the refusal (code and
 * text with its enhanced code). `sender` is null for the null sender. A promise when the answer
 * needs the store (the user's quota), otherwise synchronous.
 */
export interface SenderPolicy {
  check(sender: ParsedAddress | null, user: AuthenticatedUser | null): SenderRefusal | null | Promise<SenderRefusal | null>;
}

export interface SenderRefusal {
  code: number;
  text: string;
}
