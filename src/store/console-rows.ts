import type { ConsoleDestination, RecipientHit, SlowedDestination, SuppressionPage } from '../core/console-store.js';
import { lastReplyFromRaw, type RawRecipient } from './recipient-rows.js';
import { suppressionFromRaw, type RawSuppression } from './suppressions-repo.js';

/**
 * The web console's reads, engine-neutral: the rows both engines select and how they become the
 * Store's results, the suppression list's keyset cursor and how a search picks its page. Each
 * engine (src/store/console-queries.ts for SQLite, postgres/console.ts) only writes the SQL.
 */

/** A recipient with its message: `recipients r JOIN messages m` (the same column names in both engines). */
export const HIT_COLUMNS = `r.id AS recipient_id, r.message_id, r.address, r.domain, r.status, r.complained_at, r.attempts, r.next_attempt_at,
  r.updated_at, r.last_code, r.last_enhanced, r.last_reply, r.category, r.mx_host,
  m.created_at AS accepted_at, m.sender, m.subject, m.message_id_hdr, m.username`;

/** The recipient's columns (recipient-rows.ts) and its message's, as HIT_COLUMNS names them. */
export interface RawHit
  extends Pick<RawRecipient, 'message_id' | 'address' | 'domain' | 'attempts' | 'next_attempt_at' | 'updated_at' | 'last_code' | 'last_enhanced' | 'last_reply' | 'category' | 'mx_host'> {
  recipient_id: number;
  status: string;
  complained_at: number | null;
  accepted_at: number;
  sender: string;
  subject: string | null;
  message_id_hdr: string | null;
  username: string | null;
}

export const hitFromRaw = (r: RawHit): RecipientHit => ({
  recipientId: r.recipient_id,
  messageId: r.message_id,
  address: r.address,
  domain: r.domain,
  status: r.status,
  complainedAt: r.complained_at,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  updatedAt: r.updated_at,
  ...lastReplyFromRaw(r),
  acceptedAt: r.accepted_at,
  sender: r.sender,
  subject: r.subject,
  messageIdHeader: r.message_id_hdr,
  username: r.username,
});

/** A message search key: the queue id as typed, or a Message-ID header with or without its angle brackets. */
export function messageKeys(q: string): { bare: string; bracketed: string } {
  const bare = q.replace(/^<|>$/g, '');
  return { bare, bracketed: `<${bare}>` };
}

/** limit_state's adaptive slow-down columns. */
export interface RawSlowed {
  bucket: string;
  target: string;
  slow_per_minute: number;
  slow_restore_to: number | null;
  slow_since: number | null;
  slow_until: number | null;
  slow_reason: string | null;
}

export const slowedFromRaw = (r: RawSlowed): SlowedDestination => ({
  bucket: r.bucket,
  target: r.target,
  perMinute: r.slow_per_minute,
  restoreTo: r.slow_restore_to,
  since: r.slow_since,
  until: r.slow_until,
  reason: r.slow_reason,
});

/** One destination of the queue page's summary. */
export interface RawDestination {
  domain: string;
  queued: number;
  deferred: number;
  in_flight: number;
  oldest: number;
  next_at: number | null;
}

export const destinationFromRaw = (r: RawDestination): ConsoleDestination => ({
  domain: r.domain,
  queued: r.queued,
  deferred: r.deferred,
  inFlight: r.in_flight,
  oldestCreatedAt: r.oldest,
  nextAttemptAt: r.next_at,
});

/** A keyset cursor: opaque to the page (base64url of a JSON array: [id] or [address, scope]). */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): unknown[] | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * Which page of the suppression list a console search asks for: the newest entries (no text);
 * a whole domain's, newest first ("@example.com" or "example.com"); or the entries whose
 * address starts with the text, in address order: the addresses in [from, to) compared byte by
 * byte (binary collation), after the cursor's (address, scope). Ids: entries with id < after.
 */
export type SuppressionBrowse =
  | { mode: 'newest'; after: number }
  | { mode: 'domain'; domain: string; after: number }
  | { mode: 'address'; from: string; to: string; afterAddress: string; afterScope: string };

export function suppressionBrowse(q: string, cursor: string | undefined): SuppressionBrowse {
  const c = decodeCursor(cursor);
  const text = q.trim().toLowerCase();
  const after = typeof c?.[0] === 'number' ? c[0] : Number.MAX_SAFE_INTEGER;
  if (text === '') return { mode: 'newest', after };
  if (text.startsWith('@') || !text.includes('@')) return { mode: 'domain', domain: text.replace(/^@/, ''), after };
  return {
    mode: 'address',
    from: text,
    to: `${text}\uffff`,
    afterAddress: typeof c?.[0] === 'string' ? c[0] : '',
    afterScope: typeof c?.[1] === 'string' ? c[1] : '',
  };
}

/** The page from up to limit + 1 rows read in the page's order: the extra row says there is a next page. */
export function suppressionPage(rows: RawSuppression[], limit: number, mode: SuppressionPage['mode']): SuppressionPage {
  const more = rows.length > limit;
  const shown = rows.slice(0, limit);
  const key = (last: RawSuppression) => (mode === 'address' ? [last.address, last.scope] : [last.id]);
  return { rows: shown.map(suppressionFromRaw), next: more ? encodeCursor(key(shown[shown.length - 1]!)) : null, mode };
}
