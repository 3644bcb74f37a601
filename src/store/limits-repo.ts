import type { Db } from './db.js';
import type { LimitRow, LimitFields, LimitStateRow } from '../core/store-types.js';
export type { LimitRow, LimitFields, LimitStateRow } from '../core/store-types.js';

interface RawLimit {
  target: string;
  per_minute: number | null;
  per_hour: number | null;
  per_day: number | null;
  connections: number | null;
  per_connection: number | null;
  created_at: number;
  updated_at: number;
}

interface RawState {
  bucket: string;
  target: string;
  windows: string;
  connections: number;
  slow_per_minute: number | null;
  slow_restore_to: number | null;
  slow_since: number | null;
  slow_until: number | null;
  slow_next_step_at: number | null;
  slow_last_halved_at: number | null;
  slow_reason: string | null;
  updated_at: number;
}

const limitFromRaw = (r: RawLimit): LimitRow => ({
  target: r.target,
  perMinute: r.per_minute,
  perHour: r.per_hour,
  perDay: r.per_day,
  connections: r.connections,
  perConnection: r.per_connection,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const stateFromRaw = (r: RawState): LimitStateRow => ({
  bucket: r.bucket,
  target: r.target,
  windows: r.windows,
  connections: r.connections,
  slowPerMinute: r.slow_per_minute,
  slowRestoreTo: r.slow_restore_to,
  slowSince: r.slow_since,
  slowUntil: r.slow_until,
  slowNextStepAt: r.slow_next_step_at,
  slowLastHalvedAt: r.slow_last_halved_at,
  slowReason: r.slow_reason,
  updatedAt: r.updated_at,
});

/** The only code that knows the SQL of the `limits` and `limit_state` tables. */
export function createLimitsRepo(db: Db) {
  const all = db.prepare('SELECT * FROM limits ORDER BY target');
  const byTarget = db.prepare('SELECT * FROM limits WHERE target = ?');
  const upsert = db.prepare(
    `INSERT INTO limits (target, per_minute, per_hour, per_day, connections, per_connection, created_at, updated_at)
     VALUES (@target, @perMinute, @perHour, @perDay, @connections, @perConnection, @at, @at)
     ON CONFLICT (target) DO UPDATE SET per_minute = @perMinute, per_hour = @perHour, per_day = @perDay,
       connections = @connections, per_connection = @perConnection, updated_at = @at`,
  );
  const remove = db.prepare('DELETE FROM limits WHERE target = ?');
  const allState = db.prepare('SELECT * FROM limit_state ORDER BY bucket');
  const saveState = db.prepare(
    `INSERT INTO limit_state (bucket, target, windows, connections, slow_per_minute, slow_restore_to, slow_since, slow_until,
       slow_next_step_at, slow_last_halved_at, slow_reason, updated_at)
     VALUES (@bucket, @target, @windows, @connections, @slowPerMinute, @slowRestoreTo, @slowSince, @slowUntil,
       @slowNextStepAt, @slowLastHalvedAt, @slowReason, @updatedAt)
     ON CONFLICT (bucket) DO UPDATE SET target = @target, windows = @windows, connections = @connections,
       slow_per_minute = @slowPerMinute, slow_restore_to = @slowRestoreTo, slow_since = @slowSince, slow_until = @slowUntil,
       slow_next_step_at = @slowNextStepAt, slow_last_halved_at = @slowLastHalvedAt, slow_reason = @slowReason,
       updated_at = @updatedAt`,
  );
  const deleteState = db.prepare('DELETE FROM limit_state WHERE bucket = ?');
  const saveMany = db.transaction((rows: LimitStateRow[], gone: string[]) => {
    for (const r of rows) saveState.run(r);
    for (const b of gone) deleteState.run(b);
  });
  const dataVersion = db.prepare('PRAGMA data_version').pluck();

  return {
    list(): LimitRow[] {
      return (all.all() as RawLimit[]).map(limitFromRaw);
    },
    get(target: string): LimitRow | undefined {
      const r = byTarget.get(target) as RawLimit | undefined;
      return r && limitFromRaw(r);
    },
    /** Creates or replaces the row (every field as given). */
    set(target: string, fields: LimitFields, at: number): void {
      upsert.run({ target, ...fields, at });
    },
    remove(target: string): boolean {
      return remove.run(target).changes === 1;
    },
    states(): LimitStateRow[] {
      return (allState.all() as RawState[]).map(stateFromRaw);
    },
    /** One transaction: the budgets that changed since the last save, and those that emptied. */
    saveStates(rows: LimitStateRow[], gone: string[] = []): void {
      if (rows.length === 0 && gone.length === 0) return;
      saveMany(rows, gone);
    },
    /**
     * SQLite's data_version: changes when another connection (the CLI, another node) commits.
     * Polling it costs one page read, so limits are re-read only when something changed.
     */
    dataVersion(): number {
      return dataVersion.get() as number;
    },
  };
}

export type LimitsRepo = ReturnType<typeof createLimitsRepo>;
