import type { PgPool } from './pool.js';
import { PG_MIGRATIONS } from './migrations/index.js';

/** The advisory lock key every node takes while migrating ("ferrymig" as an int8). */
const MIGRATION_LOCK = 0x666572726d6967n;

/**
 * Applies the pending migrations, each in its own transaction, under a session advisory lock:
 * two nodes starting together take turns, and the second finds nothing left to do. Returns the
 * versions applied by this call.
 */
export async function migratePostgres(pool: PgPool, now: () => number): Promise<number[]> {
  const c = await pool.connect();
  const applied: number[] = [];
  try {
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await c.query(
        'CREATE TABLE IF NOT EXISTS ferry_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM ferry_schema_migrations')).rows.map((r) => r.version));
      for (const m of [...PG_MIGRATIONS].sort((a, b) => a.version - b.version)) {
        if (done.has(m.version)) continue;
        await c.query('BEGIN');
        try {
          await c.query(m.up);
          await c.query('INSERT INTO ferry_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now()]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        applied.push(m.version);
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    c.release();
  }
  return applied;
}
