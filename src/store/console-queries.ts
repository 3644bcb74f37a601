import type { DestinationRow, DomainTotals, HourCounts, RecipientHit, SlowedDestination, SuppressionPage } from '../core/console-store.js';
import type { SuppressionRow } from '../core/store-types.js';
import type { Db } from './db.js';
import { suppressionFromRaw, type RawSuppression } from './suppressions-repo.js';
import {
  destinationFromRaw,
  HIT_COLUMNS,
  hitFromRaw,
  messageKeys,
  slowedFromRaw,
  suppressionBrowse,
  suppressionPage,
  type RawDestination,
  type RawHit,
  type RawSlowed,
} from './console-rows.js';

/**
 * Every read the web console makes (SQLite; the Store's console reads: recipients.search,
 * suppressions.byId / browse, stats.hourly / topDomains / hourlyCategories, limits.slowed,
 * queueAdmin.destinations).
 * Each query is bounded: an index seek plus a LIMIT, a keyset cursor instead of OFFSET, and the
 * dashboard reads the hourly rollups (migration 012) instead of grouping the event log.
 * The rows, their mapping and the cursor are shared with the PostgreSQL engine (console-rows.ts).
 */

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
      const { bare, bracketed } = messageKeys(q);
      const ids = byMessageKey.all({ q: bare, bracketed }) as { id: string }[];
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
      const b = suppressionBrowse(q, cursor);
      if (b.mode === 'newest') return suppressionPage(newest.all({ after: b.after, limit: limit + 1 }) as RawSuppression[], limit, b.mode);
      if (b.mode === 'domain') return suppressionPage(ofDomain.all({ domain: b.domain, after: b.after, limit: limit + 1 }) as RawSuppression[], limit, b.mode);
      const rows = byPrefix.all({ from: b.from, to: b.to, afterAddress: b.afterAddress, afterScope: b.afterScope, limit: limit + 1 }) as RawSuppression[];
      return suppressionPage(rows, limit, b.mode);
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
      return (slowed.all() as RawSlowed[]).map(slowedFromRaw);
    },
    /** Pending recipients per destination (the busiest first, at most `limit`), each with its latest reply. */
    queue(now: number, limit: number): { rows: DestinationRow[]; more: number } {
      const all = (summary.all({ now }) as RawDestination[]).map(destinationFromRaw);
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

export type ConsoleQueries = ReturnType<typeof createConsoleQueries>;
