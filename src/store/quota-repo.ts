import type { Db } from './db.js';
import type { UserQuota, QuotaStateRow } from '../core/store-types.js';
export type { UserQuota, QuotaStateRow } from '../core/store-types.js';

interface RawQuota {
  username: string;
  max_messages_per_hour: number | null;
  max_recipients_per_day: number | null;
  updated_at: number;
}

const fromRaw = (r: RawQuota): UserQuota => ({
  username: r.username,
  maxMessagesPerHour: r.max_messages_per_hour,
  maxRecipientsPerDay: r.max_recipients_per_day,
  updatedAt: r.updated_at,
});

/** The only code that knows the SQL of the `user_quotas` and `quota_state` tables. */
export function createQuotaRepo(db: Db) {
  const byUser = db.prepare('SELECT * FROM user_quotas WHERE username = ?');
  const all = db.prepare('SELECT * FROM user_quotas ORDER BY username');
  const upsert = db.prepare(
    `INSERT INTO user_quotas (username, max_messages_per_hour, max_recipients_per_day, updated_at)
     VALUES (@username, @maxMessagesPerHour, @maxRecipientsPerDay, @at)
     ON CONFLICT (username) DO UPDATE SET max_messages_per_hour = @maxMessagesPerHour,
       max_recipients_per_day = @maxRecipientsPerDay, updated_at = @at`,
  );
  const remove = db.prepare('DELETE FROM user_quotas WHERE username = ?');
  const stateOf = db.prepare('SELECT * FROM quota_state WHERE username = ?');
  const allState = db.prepare('SELECT * FROM quota_state');
  const saveState = db.prepare(
    `INSERT INTO quota_state (username, windows, updated_at) VALUES (@username, @windows, @updatedAt)
     ON CONFLICT (username) DO UPDATE SET windows = @windows, updated_at = @updatedAt`,
  );
  const saveMany = db.transaction((rows: QuotaStateRow[]) => {
    for (const r of rows) saveState.run(r);
  });

  return {
    get(username: string): UserQuota | undefined {
      const r = byUser.get(username) as RawQuota | undefined;
      return r && fromRaw(r);
    },
    list(): UserQuota[] {
      return (all.all() as RawQuota[]).map(fromRaw);
    },
    /** Sets both quotas (null clears one); a row with neither is removed. */
    set(username: string, q: { maxMessagesPerHour: number | null; maxRecipientsPerDay: number | null }, at: number): void {
      if (q.maxMessagesPerHour === null && q.maxRecipientsPerDay === null) remove.run(username);
      else upsert.run({ username, ...q, at });
    },
    state(username: string): QuotaStateRow | undefined {
      const r = stateOf.get(username) as { username: string; windows: string; updated_at: number } | undefined;
      return r && { username: r.username, windows: r.windows, updatedAt: r.updated_at };
    },
    states(): QuotaStateRow[] {
      return (allState.all() as { username: string; windows: string; updated_at: number }[]).map((r) => ({
        username: r.username,
        windows: r.windows,
        updatedAt: r.updated_at,
      }));
    },
    saveStates(rows: QuotaStateRow[]): void {
      if (rows.length) saveMany(rows);
    },
  };
}

export type QuotaRepo = ReturnType<typeof createQuotaRepo>;
