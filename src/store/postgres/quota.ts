import { one, rows } from './sql.js';
import type { PgPool } from './pool.js';

/** Per-user intake quotas and their counted usage (src/store/quota-repo.ts). */
export function createPgQuota(pool: PgPool) {
  type Raw = { username: string; max_messages_per_hour: number | null; max_recipients_per_day: number | null; updated_at: number };
  const fromRawQ = (r: Raw) => ({ username: r.username, maxMessagesPerHour: r.max_messages_per_hour, maxRecipientsPerDay: r.max_recipients_per_day, updatedAt: r.updated_at });
  return {
    async get(username: string) {
      const r = await one<Raw>(pool, 'SELECT * FROM user_quotas WHERE username = $1', [username]);
      return r && fromRawQ(r);
    },
    async list() {
      return (await rows<Raw>(pool, 'SELECT * FROM user_quotas ORDER BY username')).map(fromRawQ);
    },
    async set(username: string, q: { maxMessagesPerHour: number | null; maxRecipientsPerDay: number | null }, when: number): Promise<void> {
      if (q.maxMessagesPerHour === null && q.maxRecipientsPerDay === null) await pool.query('DELETE FROM user_quotas WHERE username = $1', [username]);
      else
        await pool.query(
          `INSERT INTO user_quotas (username, max_messages_per_hour, max_recipients_per_day, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (username) DO UPDATE SET max_messages_per_hour = $2, max_recipients_per_day = $3, updated_at = $4`,
          [username, q.maxMessagesPerHour, q.maxRecipientsPerDay, when],
        );
    },
    async state(username: string) {
      const r = await one<{ username: string; windows: string; updated_at: number }>(pool, 'SELECT * FROM quota_state WHERE username = $1', [username]);
      return r && { username: r.username, windows: r.windows, updatedAt: r.updated_at };
    },
    async states() {
      return (await rows<{ username: string; windows: string; updated_at: number }>(pool, 'SELECT * FROM quota_state')).map((r) => ({
        username: r.username,
        windows: r.windows,
        updatedAt: r.updated_at,
      }));
    },
    async saveStates(list: { username: string; windows: string; updatedAt: number }[]): Promise<void> {
      if (!list.length) return;
      await pool.query(
        `INSERT INTO quota_state (username, windows, updated_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (username) DO UPDATE SET windows = excluded.windows, updated_at = excluded.updated_at`,
        [list.map((r) => r.username), list.map((r) => r.windows), list.map((r) => r.updatedAt)],
      );
    },
  };
}
