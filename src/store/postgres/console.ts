import type { DestinationRow, DomainTotals, HourCounts, RecipientHit, RecipientSearch, SlowedDestination, SuppressionPage } from '../../core/console-store.js';
import type { SuppressionRow } from '../../core/store-types.js';
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
} from '../console-rows.js';
import { suppressionFromRaw, type RawSuppression } from '../suppressions-repo.js';
import { hasNul, one, rows } from './sql.js';
import type { PgPool } from './pool.js';

/**
 * The web console's reads on PostgreSQL, with the SQLite engine's results
 * (src/store/console-queries.ts; rows, mapping and cursor shared through console-rows.ts).
 * The contract suite (test/store/contract/groups-console.ts) checks both with the same assertions.
 *
 * What it takes to give the same answers on this engine:
 * - text is ordered and compared byte by byte, as SQLite's binary collation does: `COLLATE "C"`
 *   wherever text is sorted or range-compared (a database created with another collation would
 *   otherwise order domains and addresses by its language rules, and an address prefix range
 *   would not be a prefix). The prefix search has its own index in that collation (migration 005).
 * - NULL sorts first in SQLite and last in PostgreSQL: a descending order on a column that may be
 *   NULL says NULLS LAST.
 * - SQLite's `ORDER BY x LIMIT n` over an index returns rows of equal x in index order (rowid
 *   last); where that order is what the query forces (INDEXED BY), it is spelled out here; where
 *   SQLite leaves it to the plan, ties are broken by id.
 * - times and hours are integers (ms since the epoch, ms / 3600000) in BIGINT columns; a bound
 *   that is not an integer is rounded to the integer comparison it is equivalent to, and a
 *   negative LIMIT means no limit, as in SQLite.
 * - PostgreSQL text cannot hold NUL: a search for a string containing one finds nothing (no
 *   stored value contains it) instead of failing the request.
 */
export function createPgConsole(pool: PgPool) {
  const hits = async (text: string, params: unknown[]) => (await rows<RawHit>(pool, text, params)).map(hitFromRaw);

  async function byRecipient(address: string, limit: number): Promise<RecipientHit[]> {
    return hits(
      `SELECT ${HIT_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
       WHERE r.address IN ($1, $2) ORDER BY r.id DESC LIMIT $3`,
      [address, address.toLowerCase(), sqlLimit(limit)],
    );
  }

  /** The newest `limit` messages from this sender (ASCII case ignored), each with up to 50 recipients in id order. */
  async function bySender(sender: string, limit: number): Promise<RecipientHit[]> {
    return hits(
      `SELECT ${HIT_COLUMNS} FROM (
         SELECT id, created_at FROM messages WHERE lower(sender) = lower($1)
         ORDER BY lower(sender), created_at DESC, id COLLATE "C" DESC LIMIT $2
       ) picked
       CROSS JOIN LATERAL (SELECT * FROM recipients WHERE message_id = picked.id ORDER BY id LIMIT 50) r
       JOIN messages m ON m.id = picked.id
       ORDER BY picked.created_at DESC, picked.id COLLATE "C" DESC, r.id`,
      [sender, sqlLimit(limit)],
    );
  }

  /** Up to 20 messages, by queue id or Message-ID header, in id order (SQLite's UNION returns them sorted), each with up to 50 recipients. */
  async function byMessage(q: string): Promise<RecipientHit[]> {
    const { bare, bracketed } = messageKeys(q);
    if (hasNul(bare)) return [];
    return hits(
      `SELECT ${HIT_COLUMNS} FROM (
         SELECT id FROM (SELECT id FROM messages WHERE id = $1 UNION SELECT id FROM messages WHERE message_id_hdr IN ($1, $2)) u
         ORDER BY id COLLATE "C" LIMIT 20
       ) picked
       CROSS JOIN LATERAL (SELECT * FROM recipients WHERE message_id = picked.id ORDER BY id LIMIT 50) r
       JOIN messages m ON m.id = picked.id
       ORDER BY picked.id COLLATE "C", r.id`,
      [bare, bracketed],
    );
  }

  async function pending(domain: string, limit: number): Promise<RecipientHit[]> {
    return hits(
      `SELECT ${HIT_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
       WHERE r.status IN ('queued','deferred') AND r.domain = $1 ORDER BY r.created_at, r.id LIMIT $2`,
      [domain.toLowerCase(), sqlLimit(limit)],
    );
  }

  return {
    /** recipients.search: as the SQLite engine (operations.ts) dispatches it. */
    async search(by: RecipientSearch, limit: number): Promise<RecipientHit[]> {
      if ('recipient' in by) return hasNul(by.recipient) ? [] : byRecipient(by.recipient, limit);
      if ('sender' in by) return hasNul(by.sender) ? [] : bySender(by.sender, limit);
      if ('message' in by) return byMessage(by.message);
      return hasNul(by.pendingDomain) ? [] : pending(by.pendingDomain, limit);
    },

    /** suppressions.byId */
    async suppression(id: number): Promise<SuppressionRow | undefined> {
      if (!Number.isSafeInteger(id)) return undefined;
      const r = await one<RawSuppression>(pool, 'SELECT * FROM suppressions WHERE id = $1', [id]);
      return r && suppressionFromRaw(r);
    },

    /** suppressions.browse: one page, newest first, a domain's newest first, or an address prefix in byte order. */
    async suppressions(q: string, cursor: string | undefined, limit: number): Promise<SuppressionPage> {
      const b = suppressionBrowse(q, cursor);
      const n = sqlLimit(limit + 1);
      if (b.mode === 'newest') {
        return suppressionPage(await rows<RawSuppression>(pool, 'SELECT * FROM suppressions WHERE id < $1 ORDER BY id DESC LIMIT $2', [atLeast(b.after), n]), limit, b.mode);
      }
      if (b.mode === 'domain') {
        if (hasNul(b.domain)) return suppressionPage([], limit, b.mode);
        return suppressionPage(
          await rows<RawSuppression>(pool, 'SELECT * FROM suppressions WHERE domain = $1 AND id < $2 ORDER BY id DESC LIMIT $3', [b.domain, atLeast(b.after), n]),
          limit,
          b.mode,
        );
      }
      if (hasNul(b.from)) return suppressionPage([], limit, b.mode);
      // A cursor this engine never makes (an address holding NUL): read from the start, as for any unreadable cursor.
      const [afterAddress, afterScope] = hasNul(b.afterAddress, b.afterScope) ? ['', ''] : [b.afterAddress, b.afterScope];
      return suppressionPage(
        await rows<RawSuppression>(
          pool,
          `SELECT * FROM suppressions
           WHERE address COLLATE "C" >= $1 AND address COLLATE "C" < $2 AND (address COLLATE "C", scope COLLATE "C") > ($3, $4)
           ORDER BY address COLLATE "C", scope COLLATE "C" LIMIT $5`,
          [b.from, b.to, afterAddress, afterScope, n],
        ),
        limit,
        b.mode,
      );
    },

    /** stats.hourly: the rollup rows of one domain ('*': all), hours [fromHour, toHour). */
    async hourly(domain: string, fromHour: number, toHour: number): Promise<HourCounts[]> {
      if (hasNul(domain)) return [];
      return rows<HourCounts>(
        pool,
        `SELECT hour, delivered, deferred, bounced, dropped, expired, complained FROM stats_hourly
         WHERE domain = $1 AND hour >= $2 AND hour < $3 ORDER BY hour`,
        [domain, atLeast(fromHour), atLeast(toHour)],
      );
    },

    /** stats.topDomains: the busiest domains since `fromHour`; equal totals in byte order of the name. */
    async topDomains(fromHour: number, limit: number): Promise<DomainTotals[]> {
      return rows<DomainTotals>(
        pool,
        `SELECT domain, SUM(delivered)::bigint AS delivered, SUM(deferred)::bigint AS deferred, SUM(bounced)::bigint AS bounced,
           SUM(dropped)::bigint AS dropped, SUM(expired)::bigint AS expired, SUM(complained)::bigint AS complained
         FROM stats_hourly WHERE hour >= $1 AND domain <> '*'
         GROUP BY domain ORDER BY SUM(delivered + deferred + bounced + dropped + expired + complained) DESC, domain COLLATE "C" LIMIT $2`,
        [atLeast(fromHour), sqlLimit(limit)],
      );
    },

    /** stats.hourlyCategories */
    async topCategories(fromHour: number, limit: number): Promise<{ category: string; n: number }[]> {
      return rows<{ category: string; n: number }>(
        pool,
        `SELECT category, SUM(n)::bigint AS n FROM stats_categories_hourly WHERE hour >= $1
         GROUP BY category ORDER BY SUM(n) DESC, category COLLATE "C" LIMIT $2`,
        [atLeast(fromHour), sqlLimit(limit)],
      );
    },

    /** limits.slowed: the newest slow-down first (one without a start time last, as SQLite sorts NULL). */
    async slowed(): Promise<SlowedDestination[]> {
      return (
        await rows<RawSlowed>(
          pool,
          `SELECT bucket, target, slow_per_minute, slow_restore_to, slow_since, slow_until, slow_reason FROM limit_state
           WHERE slow_per_minute IS NOT NULL ORDER BY slow_since DESC NULLS LAST, bucket COLLATE "C" LIMIT 100`,
        )
      ).map(slowedFromRaw);
    },

    /** queueAdmin.destinations: pending recipients per destination (the busiest first, at most `limit`), each with its latest reply. */
    async queue(now: number, limit: number): Promise<{ rows: DestinationRow[]; more: number }> {
      // For whole ms, lease_until <= now is lease_until <= floor(now).
      const at = Number.isNaN(now) ? null : Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(now)));
      const all = (
        await rows<RawDestination>(
          pool,
          `SELECT * FROM (SELECT domain,
             COUNT(*) FILTER (WHERE status = 'queued' AND COALESCE(lease_until, 0) <= $1)::int AS queued,
             COUNT(*) FILTER (WHERE status = 'deferred' AND COALESCE(lease_until, 0) <= $1)::int AS deferred,
             COUNT(*) FILTER (WHERE COALESCE(lease_until, 0) > $1)::int AS in_flight,
             MIN(created_at) AS oldest,
             MIN(next_attempt_at) FILTER (WHERE COALESCE(lease_until, 0) <= $1) AS next_at
           FROM recipients WHERE status IN ('queued','deferred') GROUP BY domain) d
           ORDER BY queued + deferred + in_flight DESC, domain COLLATE "C"`,
          [at],
        )
      ).map(destinationFromRaw);
      const shown = all.slice(0, limit);
      // Each shown destination's latest reply, walking recipients_pending_dest backwards as
      // SQLite's INDEXED BY does: replies of the same ms in that index's order (NULL smallest).
      const replies = new Map<string, { last_reply: string; updated_at: number }>();
      if (shown.length > 0) {
        for (const r of await rows<{ domain: string; last_reply: string; updated_at: number }>(
          pool,
          `SELECT d.domain, lr.last_reply, lr.updated_at FROM unnest($1::text[]) AS d(domain)
           JOIN LATERAL (
             SELECT last_reply, updated_at FROM recipients
             WHERE status IN ('queued','deferred') AND domain = d.domain AND last_reply IS NOT NULL
             ORDER BY updated_at DESC, status COLLATE "C" DESC, created_at DESC, lease_until DESC NULLS LAST, next_attempt_at DESC NULLS LAST, id DESC
             LIMIT 1
           ) lr ON true`,
          [shown.map((d) => d.domain)],
        ))
          replies.set(r.domain, r);
      }
      const out = shown.map((d) => {
        const r = replies.get(d.domain);
        return { ...d, lastReply: r?.last_reply ?? null, lastReplyAt: r?.updated_at ?? null };
      });
      return { rows: out, more: all.length - out.length };
    },
  };
}

export type PgConsole = ReturnType<typeof createPgConsole>;

/** SQLite: a negative LIMIT is no limit; PostgreSQL: LIMIT NULL is. */
function sqlLimit(n: number): number | null {
  return n < 0 ? null : n;
}

/**
 * A bound for an integer column: `col >= x` and `col < x` are `col >= ceil(x)` and `col < ceil(x)`;
 * infinities and huge values stay beyond every stored value (within BIGINT). NaN: SQLite binds
 * it as NULL, so the comparison holds for no row; so does NULL here.
 */
function atLeast(x: number): number | null {
  if (Number.isNaN(x)) return null;
  return Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(x)));
}
