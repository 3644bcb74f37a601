import type { LimitFields, LimitRow, LimitStateRow } from '../limits-repo.js';
import { changes, one, rows, type Queryable } from './sql.js';
import { inTransaction, type PgPool } from './pool.js';

const limitFromRaw = (r: Record<string, unknown>): LimitRow => ({
  target: r.target as string,
  perMinute: r.per_minute as number | null,
  perHour: r.per_hour as number | null,
  perDay: r.per_day as number | null,
  connections: r.connections as number | null,
  perConnection: r.per_connection as number | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const stateFromRaw = (r: Record<string, unknown>): LimitStateRow => ({
  bucket: r.bucket as string,
  target: r.target as string,
  windows: r.windows as string,
  connections: r.connections as number,
  slowPerMinute: r.slow_per_minute as number | null,
  slowRestoreTo: r.slow_restore_to as number | null,
  slowSince: r.slow_since as number | null,
  slowUntil: r.slow_until as number | null,
  slowNextStepAt: r.slow_next_step_at as number | null,
  slowLastHalvedAt: r.slow_last_halved_at as number | null,
  slowReason: r.slow_reason as string | null,
  updatedAt: r.updated_at as number,
});

/** Limits per window for a take; null: no limit on that window. */
export interface BudgetLimits {
  perMinute: number | null;
  perHour: number | null;
  perDay: number | null;
}

/**
 * The `limits` group (src/store/limits-repo.ts) plus what a cluster needs on top: rate budgets
 * and connection slots taken atomically in the database, so a destination's 600/minute or 20
 * connections are the cluster's, not each node's.
 */
export function createPgLimits(pool: PgPool, now: () => number) {
  return {
    async list(): Promise<LimitRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM limits ORDER BY target')).map(limitFromRaw);
    },
    async get(target: string): Promise<LimitRow | undefined> {
      const r = await one<Record<string, unknown>>(pool, 'SELECT * FROM limits WHERE target = $1', [target]);
      return r && limitFromRaw(r);
    },
    async set(target: string, fields: LimitFields, at: number): Promise<void> {
      await setLimitOn(pool, target, fields, at);
    },
    async remove(target: string): Promise<boolean> {
      return removeLimitOn(pool, target);
    },
    async states(): Promise<LimitStateRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM limit_state ORDER BY bucket')).map(stateFromRaw);
    },
    /**
     * As on SQLite, except that nodes share the rows: a slow-down still cooling down is kept
     * against a node that writes an older one or none (it has not taken it up yet), and is not
     * forgotten when a node's own budget empties (throttle.adoptSlowDowns spreads it).
     */
    async saveStates(list: LimitStateRow[], gone: string[] = []): Promise<void> {
      if (list.length === 0 && gone.length === 0) return;
      await inTransaction(pool, async (c) => {
        for (const r of list) {
          await c.query(
            `INSERT INTO limit_state AS s (bucket, target, windows, connections, slow_per_minute, slow_restore_to, slow_since, slow_until,
               slow_next_step_at, slow_last_halved_at, slow_reason, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (bucket) DO UPDATE SET target = $2, windows = $3, connections = $4,
               slow_per_minute = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_per_minute ELSE $5 END,
               slow_restore_to = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_restore_to ELSE $6 END,
               slow_since = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_since ELSE $7 END,
               slow_until = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_until ELSE $8 END,
               slow_next_step_at = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_next_step_at ELSE $9 END,
               slow_last_halved_at = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_last_halved_at ELSE $10 END,
               slow_reason = CASE WHEN (s.slow_until > $12 AND coalesce(s.slow_last_halved_at, -1) > coalesce($10, -1)) THEN s.slow_reason ELSE $11 END,
               updated_at = $12`,
            [r.bucket, r.target, r.windows, r.connections, r.slowPerMinute, r.slowRestoreTo, r.slowSince, r.slowUntil, r.slowNextStepAt, r.slowLastHalvedAt, r.slowReason, r.updatedAt],
          );
        }
        // Not a slow-down another node started (its cool-down still running): that one is the cluster's.
        if (gone.length) await c.query('DELETE FROM limit_state WHERE bucket = ANY($1::text[]) AND NOT coalesce(slow_until > $2, false)', [gone, now()]);
      });
    },
    /**
     * SQLite's data_version answers "did anyone change limits?"; here: a number that changes
     * whenever a limits row changes (the newest updated_at and the row count).
     */
    async dataVersion(): Promise<number> {
      const r = await one<{ v: number }>(pool, 'SELECT coalesce(max(updated_at), 0) + count(*) AS v FROM limits');
      return Number(r!.v);
    },
    /**
     * Takes up to `want` sends from the bucket's budget for the whole cluster, atomically (one
     * statement; see migration 002). Returns how many were granted (0..want). Take small batches
     * (e.g. the recipients of one claim) to save round trips.
     */
    async takeBudget(bucket: string, now: number, want: number, limits: BudgetLimits): Promise<number> {
      const r = await one<{ n: number }>(pool, 'SELECT ferry_take_budget($1, $2, $3, $4::int[]) AS n', [
        bucket,
        now,
        want,
        [limits.perMinute, limits.perHour, limits.perDay],
      ]);
      return r!.n;
    },
    /**
     * The cluster's sends counted for the bucket, per slot, in src/throttle/window.ts's JSON shape
     * ({minute, hour, day}: [slot, count] ascending): what every node has taken, for a node to
     * plan when its held mail may go.
     */
    async budgetWindows(bucket: string): Promise<string> {
      const r = await rows<{ win: number; slot: string; n: number }>(pool, 'SELECT win, slot, n FROM rate_slots WHERE bucket = $1 ORDER BY win, slot', [bucket]);
      const out: Record<'minute' | 'hour' | 'day', [number, number][]> = { minute: [], hour: [], day: [] };
      const names = ['minute', 'hour', 'day'] as const;
      for (const x of r) {
        const name = names[x.win];
        if (name) out[name].push([Number(x.slot), Number(x.n)]);
      }
      return JSON.stringify(out);
    },
    /** Sends counted for the bucket in the window ending at `now` (minute, hour, day). */
    async budgetUsed(bucket: string, now: number): Promise<{ minute: number; hour: number; day: number }> {
      const r = await rows<{ win: number; n: number }>(
        pool,
        `SELECT win, coalesce(sum(n), 0)::int AS n FROM rate_slots
         WHERE bucket = $1 AND (slot + 1) * (CASE win WHEN 0 THEN 1000 WHEN 1 THEN 60000 ELSE 1440000 END)
               + (CASE win WHEN 0 THEN 60000 WHEN 1 THEN 3600000 ELSE 86400000 END) > $2
         GROUP BY win`,
        [bucket, now],
      );
      const by = new Map(r.map((x) => [x.win, x.n]));
      return { minute: by.get(0) ?? 0, hour: by.get(1) ?? 0, day: by.get(2) ?? 0 };
    },
    /** Holds one of the bucket's `limit` connection slots for the cluster until `until` (renew with renewConnections: a second take of a slot held is refused at the limit). */
    async takeConnection(bucket: string, owner: string, token: string, limit: number, now: number, until: number): Promise<boolean> {
      const r = await one<{ ok: boolean }>(pool, 'SELECT ferry_take_connection($1, $2, $3, $4, $5, $6) AS ok', [bucket, owner, token, limit, now, until]);
      return r!.ok;
    },
    /**
     * Renews the owner's slots still live (`until` > now) in one statement; returns the tokens
     * renewed (a slot missing from it expired and may have gone to another node: take it again).
     * Unlike takeConnection, a renewal is never refused at the limit.
     */
    async renewConnections(owner: string, tokens: string[], now: number, until: number): Promise<string[]> {
      if (tokens.length === 0) return [];
      const r = await rows<{ token: string }>(
        pool,
        'UPDATE connection_slots SET until = $4 WHERE owner = $1 AND token = ANY($2::text[]) AND until > $3 RETURNING token',
        [owner, tokens, now, until],
      );
      return r.map((x) => x.token);
    },
    async releaseConnection(bucket: string, token: string): Promise<void> {
      await pool.query('DELETE FROM connection_slots WHERE bucket = $1 AND token = $2', [bucket, token]);
    },
    /** Start-up: a restarted node gives back the connection slots it held when it died. */
    async releaseConnectionsOf(owner: string): Promise<number> {
      return changes(pool, 'DELETE FROM connection_slots WHERE owner = $1', [owner]);
    },
  };
}

export type PgLimits = ReturnType<typeof createPgLimits>;

/** Creates or replaces the limit row, on a pool or inside the caller's transaction. */
export async function setLimitOn(db: Queryable, target: string, fields: LimitFields, at: number): Promise<void> {
  await db.query(
    `INSERT INTO limits (target, per_minute, per_hour, per_day, connections, per_connection, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (target) DO UPDATE SET per_minute = $2, per_hour = $3, per_day = $4, connections = $5, per_connection = $6, updated_at = $7`,
    [target, fields.perMinute, fields.perHour, fields.perDay, fields.connections, fields.perConnection, at],
  );
}

/** Removes the limit row (false: there was none), on a pool or inside the caller's transaction. */
export async function removeLimitOn(db: Queryable, target: string): Promise<boolean> {
  return (await changes(db, 'DELETE FROM limits WHERE target = $1', [target])) === 1;
}
