import type { DestinationFailures, OldestQueued, QueueDepth, SuppressionGrowth } from '../stats-repo.js';
import { one, rows } from './sql.js';
import type { PgPool } from './pool.js';

/** Operators' read-only questions (src/store/stats-repo.ts), over the whole cluster's data. */
export function createPgStats(pool: PgPool) {
  return {
    /** Readiness: a transaction that takes a transaction id (fails on a read-only standby), rolled back. */
    async probeWrite(): Promise<void> {
      const c = await pool.connect();
      let broken: Error | undefined;
      try {
        await c.query('BEGIN');
        await c.query('SELECT txid_current()');
      } finally {
        // A connection that cannot roll back is discarded, not returned to the pool.
        await c.query('ROLLBACK').catch((err: Error) => (broken = err));
        c.release(broken);
      }
    },
    async queueDepth(): Promise<QueueDepth> {
      const out: QueueDepth = { queued: 0, deferred: 0 };
      for (const r of await rows<{ status: keyof QueueDepth; n: number }>(
        pool,
        "SELECT status, COUNT(*)::int AS n FROM recipients WHERE status IN ('queued','deferred') GROUP BY status",
      ))
        out[r.status] = r.n;
      return out;
    },
    async oldestQueued(): Promise<OldestQueued | null> {
      const r = await one<{ message_id: string; address: string; domain: string; status: string; created_at: number; attempts: number; last_reply: string | null }>(
        pool,
        `SELECT message_id, address, domain, status, created_at, attempts, last_reply FROM recipients
         WHERE status IN ('queued','deferred') ORDER BY created_at LIMIT 1`,
      );
      return r ? { messageId: r.message_id, recipient: r.address, domain: r.domain, status: r.status, createdAt: r.created_at, attempts: r.attempts, lastReply: r.last_reply } : null;
    },
    async recipientsSince(since: number): Promise<{ messages: number; byStatus: Record<string, number> }> {
      const byStatus: Record<string, number> = {};
      for (const r of await rows<{ status: string; n: number }>(
        pool,
        `SELECT CASE WHEN r.complained_at IS NOT NULL THEN 'spam' ELSE r.status END AS status, COUNT(*)::int AS n
         FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.created_at >= $1 GROUP BY 1`,
        [since],
      ))
        byStatus[r.status] = r.n;
      const m = await one<{ n: number }>(pool, 'SELECT COUNT(*)::int AS n FROM messages WHERE created_at >= $1', [since]);
      return { messages: m!.n, byStatus };
    },
    async topCategories(since: number, limit: number): Promise<{ category: string; count: number }[]> {
      const r = await rows<{ category: string | null; n: number }>(
        pool,
        `SELECT r.category, COUNT(*)::int AS n FROM messages m JOIN recipients r ON r.message_id = m.id
         WHERE m.created_at >= $1 AND r.status IN ('bounced','expired','dropped') GROUP BY r.category ORDER BY n DESC, r.category LIMIT $2`,
        [since, limit],
      );
      return r.map((x) => ({ category: x.category ?? 'other', count: x.n }));
    },
    async failingDestinations(since: number, limit: number): Promise<DestinationFailures[]> {
      return rows<DestinationFailures>(
        pool,
        `SELECT * FROM (SELECT r.domain AS domain,
                SUM(CASE WHEN a.result = 'deferred' THEN 1 ELSE 0 END)::int AS deferred,
                SUM(CASE WHEN a.result IN ('bounced','expired') THEN 1 ELSE 0 END)::int AS bounced
         FROM attempts a JOIN recipients r ON r.id = a.recipient_id
         WHERE a.at >= $1 AND a.result IN ('deferred','bounced','expired')
         GROUP BY r.domain) x ORDER BY deferred + bounced DESC, domain LIMIT $2`,
        [since, limit],
      );
    },
    async attemptsSince(since: number): Promise<Record<string, number>> {
      const out: Record<string, number> = {};
      for (const r of await rows<{ result: string; n: number }>(pool, 'SELECT result, COUNT(*)::int AS n FROM attempts WHERE at >= $1 GROUP BY result', [since]))
        out[r.result] = r.n;
      return out;
    },
    async lastDelivery(): Promise<{ at: number; messageId: string; mxHost: string | null } | null> {
      const r = await one<{ at: number; message_id: string; mx_host: string | null }>(
        pool,
        "SELECT at, message_id, mx_host FROM attempts WHERE result = 'delivered' ORDER BY at DESC LIMIT 1",
      );
      return r ? { at: r.at, messageId: r.message_id, mxHost: r.mx_host } : null;
    },
    /** No spool files in this engine. */
    async spoolBodies(): Promise<number> {
      return 0;
    },
    async suppressions(since: number): Promise<SuppressionGrowth | null> {
      const r = await one<{ total: number; added: number }>(
        pool,
        'SELECT COUNT(*)::int AS total, COUNT(*) FILTER (WHERE created_at >= $1)::int AS added FROM suppressions',
        [since],
      );
      return r!;
    },
  };
}
