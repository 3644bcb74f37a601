import type { ConsoleDestination, DestinationRow, DomainTotals, HourCounts, RecipientHit, SlowedDestination, SuppressionPage, SuppressionRow } from '../core/store-types.js';
import type { Db } from './db.js';
import { suppressionFromRaw, type RawSuppression } from './suppressions-repo.js';

/**
 * Every read the web console makes (SQLite; the Store's console reads: recipients.search,
 * suppressions.byId / browse, stats.hourly / topDomains / hourlyCategories, limits.slowed,
 * queueAdmin.destinations).
 * Each query is bounded: an index seek plus a LIMIT, a keyset cursor instead of OFFSET, and the
 * dashboard reads the hourly rollups (migration 012) instead of grouping the event log.
 */


const HIT_COLUMNS = `r.id AS recipient_id, r.message_id, r.address, r.domain, r.status, r.complained_at, r.attempts, r.next_attempt_at,
  r.updated_at, r.last_code, r.last_enhanced, r.last_reply, r.category, r.mx_host,
  m.created_at AS accepted_at, m.sender, m.subject, m.message_id_hdr, m.username`;

interface RawHit {
  recipient_id: number;
  message_id: string;
  address: string;
  domain: string;
  status: string;
  complained_at: number | null;
  attempts: number;
  next_attempt_at: number | null;
  updated_at: number;
  last_code: number | null;
  last_enhanced: string | null;
  last_reply: string | null;
  category: string | null;
  mx_host: string | null;
  accepted_at: number;
  sender: string;
  subject: string | null;
  message_id_hdr: string | null;
  username: string | null;
}

const hitFromRaw = (r: RawHit): RecipientHit => ({
  recipientId: r.recipient_id,
  messageId: r.message_id,
  address: r.address,
  domain: r.domain,
  status: r.status,
  complainedAt: r.complained_at,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  updatedAt: r.updated_at,
  lastCode: r.last_code,
  lastEnhanced: r.last_enhanced,
  lastReply: r.last_reply,
  category: r.category,
  mxHost: r.mx_host,
  acceptedAt: r.accepted_at,
  sender: r.sender,
  subject: r.subject,
  messageIdHeader: r.message_id_hdr,
  username: r.username,
});

/** A keyset cursor: opaque to the page, "<id>" or "<address>\u0000<scope>". */
function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string | undefined): unknown[] | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}


export function createConsoleQueries(db: Db) {
  // recipients_address (exact) for each spelling; newest first.
  const byRecipient = db.prepare(
    `SELECT ${HIT_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
     WHERE r.address IN (@a, @b) ORDER BY r.id DESC LIMIT @limit`,
  );
  const bySenderMessages = db.prepare(
    'SELECT id FROM messages WHERE sender = @s COLLATE NOCASE ORDER BY sender COLLATE NOCASE, created_at DESC LIMIT @limit',
  );
  const byMessageKey = db.prepare(
    'SELECT id FROM messages WHERE id = @q UNION SELECT id FROM messages WHERE message_id_hdr IN (@q, @bracketed) LIMIT 20',
  );
  const recipientsOf = db.prepare(
    `SELECT ${HIT_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
     WHERE r.message_id = ? ORDER BY r.id LIMIT 50`,
  );
  const suppressionById = db.prepare('SELECT * FROM suppressions WHERE id = ?');
  const newest = db.prepare('SELECT * FROM suppressions WHERE id < @after ORDER BY id DESC LIMIT @limit');
  const ofDomain = db.prepare('SELECT * FROM suppressions WHERE domain = @domain AND id < @after ORDER BY id DESC LIMIT @limit');
  // suppressions_address_scope: a prefix range on the unique index, in address order.
  const byPrefix = db.prepare(
    `SELECT * FROM suppressions WHERE address >= @from AND address < @to AND (address, scope) > (@afterAddress, @afterScope)
     ORDER BY address, scope LIMIT @limit`,
  );
  const exportPage = db.prepare('SELECT * FROM suppressions WHERE id > ? ORDER BY id LIMIT ?');
  const hours = db.prepare(
    `SELECT hour, delivered, deferred, bounced, dropped, expired, complained FROM stats_hourly
     WHERE domain = @domain AND hour >= @from AND hour < @to ORDER BY hour`,
  );
  const topDomains = db.prepare(
    `SELECT domain, SUM(delivered) AS delivered, SUM(deferred) AS deferred, SUM(bounced) AS bounced, SUM(dropped) AS dropped,
       SUM(expired) AS expired, SUM(complained) AS complained
     FROM stats_hourly INDEXED BY stats_hourly_hour WHERE hour >= @from AND domain <> '*'
     GROUP BY domain ORDER BY SUM(delivered + deferred + bounced + dropped + expired + complained) DESC, domain LIMIT @limit`,
  );
  const topCategories = db.prepare(
    'SELECT category, SUM(n) AS n FROM stats_categories_hourly WHERE hour >= ? GROUP BY category ORDER BY n DESC, category LIMIT ?',
  );
  const slowed = db.prepare(
    `SELECT bucket, target, slow_per_minute, slow_restore_to, slow_since, slow_until, slow_reason FROM limit_state
     WHERE slow_per_minute IS NOT NULL ORDER BY slow_since DESC LIMIT 100`,
  );
  const lastReply = db.prepare(
    `SELECT last_reply, updated_at FROM recipients INDEXED BY recipients_pending_dest
     WHERE status IN ('queued','deferred') AND domain = ? AND last_reply IS NOT NULL ORDER BY updated_at DESC LIMIT 1`,
  );
  // As `ferry queue list` (queue-admin-repo), read from the covering partial index.
  const summary = db.prepare(
    `SELECT domain,
       SUM(status = 'queued' AND COALESCE(lease_until, 0) <= @now) AS queued,
       SUM(status = 'deferred' AND COALESCE(lease_until, 0) <= @now) AS deferred,
       SUM(COALESCE(lease_until, 0) > @now) AS in_flight,
       MIN(created_at) AS oldest,
       MIN(CASE WHEN COALESCE(lease_until, 0) <= @now THEN next_attempt_at END) AS next_at
     FROM recipients INDEXED BY recipients_pending_dest
     WHERE status IN ('queued','deferred')
     GROUP BY domain ORDER BY queued + deferred + in_flight DESC, domain`,
  );
  const pendingOf = db.prepare(
    `SELECT ${HIT_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
     WHERE r.status IN ('queued','deferred') AND r.domain = ? ORDER BY r.created_at LIMIT ?`,
  );

  return {
    /** Each message to this address, newest first. */
    byRecipient(address: string, limit = 50): RecipientHit[] {
      return (byRecipient.all({ a: address, b: address.toLowerCase(), limit }) as RawHit[]).map(hitFromRaw);
    },
    /** The newest messages from this envelope sender, each with its recipients. */
    bySender(sender: string, limit = 20): RecipientHit[] {
      const ids = bySenderMessages.all({ s: sender, limit }) as { id: string }[];
      return ids.flatMap((m) => (recipientsOf.all(m.id) as RawHit[]).map(hitFromRaw));
    },
    /** A message by queue id or Message-ID header (with or without angle brackets), with its recipients. */
    byMessage(q: string): RecipientHit[] {
      const bare = q.replace(/^<|>$/g, '');
      const ids = byMessageKey.all({ q: bare, bracketed: `<${bare}>` }) as { id: string }[];
      return ids.flatMap((m) => (recipientsOf.all(m.id) as RawHit[]).map(hitFromRaw));
    },
    suppression(id: number): SuppressionRow | null {
      const r = suppressionById.get(id) as RawSuppression | undefined;
      return r ? suppressionFromRaw(r) : null;
    },
    /**
     * One page of the suppression list: newest first; or, for a search, the entries whose address
     * starts with it (an address or the start of one), or a whole domain's ("@example.com" or
     * "example.com"), newest first.
     */
    suppressions(q: string, cursor: string | undefined, limit: number): SuppressionPage {
      const c = decodeCursor(cursor);
      const text = q.trim().toLowerCase();
      if (text === '') {
        const after = typeof c?.[0] === 'number' ? c[0] : Number.MAX_SAFE_INTEGER;
        return page(newest.all({ after, limit: limit + 1 }) as RawSuppression[], limit, (r) => [r.id], 'newest');
      }
      if (text.startsWith('@') || !text.includes('@')) {
        const domain = text.replace(/^@/, '');
        const after = typeof c?.[0] === 'number' ? c[0] : Number.MAX_SAFE_INTEGER;
        return page(ofDomain.all({ domain, after, limit: limit + 1 }) as RawSuppression[], limit, (r) => [r.id], 'domain');
      }
      const afterAddress = typeof c?.[0] === 'string' ? c[0] : '';
      const afterScope = typeof c?.[1] === 'string' ? c[1] : '';
      const rows = byPrefix.all({ from: text, to: `${text}\uffff`, afterAddress, afterScope, limit: limit + 1 }) as RawSuppression[];
      return page(rows, limit, (r) => [r.address, r.scope], 'address');
    },
    /** Entries with id > afterId, in id order (an export in pages: the connection is never held across an await). */
    exportPage(afterId: number, limit: number): SuppressionRow[] {
      return (exportPage.all(afterId, limit) as RawSuppression[]).map(suppressionFromRaw);
    },
    /** Counts per hour for a destination domain ('*': all), hours [from, to). */
    hourly(domain: string, fromHour: number, toHour: number): HourCounts[] {
      return hours.all({ domain, from: fromHour, to: toHour }) as HourCounts[];
    },
    topDomains(fromHour: number, limit: number): DomainTotals[] {
      return topDomains.all({ from: fromHour, limit }) as DomainTotals[];
    },
    topCategories(fromHour: number, limit: number): { category: string; n: number }[] {
      return topCategories.all(fromHour, limit) as { category: string; n: number }[];
    },
    slowed(): SlowedDestination[] {
      type Raw = { bucket: string; target: string; slow_per_minute: number; slow_restore_to: number | null; slow_since: number | null; slow_until: number | null; slow_reason: string | null };
      return (slowed.all() as Raw[]).map((r) => ({
        bucket: r.bucket,
        target: r.target,
        perMinute: r.slow_per_minute,
        restoreTo: r.slow_restore_to,
        since: r.slow_since,
        until: r.slow_until,
        reason: r.slow_reason,
      }));
    },
    /** Pending recipients per destination (the busiest first, at most `limit`), each with its latest reply. */
    queue(now: number, limit: number): { rows: DestinationRow[]; more: number } {
      type Raw = { domain: string; queued: number; deferred: number; in_flight: number; oldest: number; next_at: number | null };
      const all: ConsoleDestination[] = (summary.all({ now }) as Raw[]).map((r) => ({
        domain: r.domain, queued: r.queued, deferred: r.deferred, inFlight: r.in_flight, oldestCreatedAt: r.oldest, nextAttemptAt: r.next_at,
      }));
      const rows = all.slice(0, limit).map((d) => {
        const r = lastReply.get(d.domain) as { last_reply: string; updated_at: number } | undefined;
        return { ...d, lastReply: r?.last_reply ?? null, lastReplyAt: r?.updated_at ?? null };
      });
      return { rows, more: all.length - rows.length };
    },
    /** The oldest pending recipients of one destination. */
    pending(domain: string, limit: number): RecipientHit[] {
      return (pendingOf.all(domain.toLowerCase(), limit) as RawHit[]).map(hitFromRaw);
    },
  };
}

function page(rows: RawSuppression[], limit: number, key: (r: RawSuppression) => (string | number)[], mode: SuppressionPage['mode']): SuppressionPage {
  const more = rows.length > limit;
  const shown = rows.slice(0, limit);
  return { rows: shown.map(suppressionFromRaw), next: more ? encodeCursor(key(shown[shown.length - 1]!)) : null, mode };
}

export type ConsoleQueries = ReturnType<typeof createConsoleQueries>;
