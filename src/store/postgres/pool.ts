import pg from 'pg';
import { FerryError } from '../../core/errors.js';
import { redactStoreUrl } from '../../config/store-url.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/**
 * int8 (bigint ids, ms times) as JavaScript numbers: every value Ferry stores is far below 2^53.
 * Per pool, not the global pg.types: other users of `pg` in the process keep their parsers.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

export interface PoolOptions {
  url: string;
  size: number;
  /** Names this node's connections in pg_stat_activity. */
  applicationName: string;
  onError?: (err: Error) => void;
}

export function createPool(opts: PoolOptions): PgPool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.size,
    application_name: opts.applicationName.slice(0, 63),
    types,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // 250 only after the commit is durable: never let a server default relax it.
    options: '-c synchronous_commit=on',
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', (err) => opts.onError?.(err));
  return pool;
}

/** A connection failure as one clear line, without the password. */
export function storeError(url: string, err: unknown): FerryError {
  const e = err as { message?: string; code?: string };
  return new FerryError('FERRY_ERR_STORE', `PostgreSQL store ${String(redactStoreUrl(url))}: ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`, {
    cause: err,
  });
}

/** Runs `fn` in one transaction on one pooled connection (COMMIT, or ROLLBACK on any error). */
export async function inTransaction<T>(pool: PgPool, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
