import type { Store, SuppressionLookup } from '../../core/store.js';
import type { Db } from '../db.js';
import { createSqliteOperations, type SqliteOperations } from './operations.js';

export interface InProcessStoreOptions {
  /** Most accepted messages one intake commit may hold (spool.commitBatchMax). */
  commitBatchMax?: number;
}

/**
 * The SQLite engine in this thread: every operation runs synchronously on `db` and returns a
 * settled promise. For the admin CLI (one short command, nothing else on its event loop) and
 * tests. The relay uses the threaded engine (threaded.ts), whose writes never run on the SMTP
 * event loop and whose writer groups concurrent commits.
 */
export function createInProcessSqliteStore(db: Db, options: InProcessStoreOptions = {}): Store {
  const ops = createSqliteOperations(db);
  const store = wrapOperations(ops) as unknown as Store & { engine: 'sqlite' };
  return {
    ...store,
    engine: 'sqlite',
    suppressionLookup: sqliteSuppressionLookup(ops.suppressions),
    queue: {
      ...store.queue,
      // One transaction per call: the relay's intake goes through the threaded engine, whose
      // writer groups concurrent calls; the CLI and tests accept rarely.
      accept: async (batch) => ops.queue.accept(batch),
    },
    async close() {
      if (db.open) db.close();
    },
  };
}

/** The RCPT-time read straight from a connection's synchronous operations (no promise). */
export function sqliteSuppressionLookup(s: Pick<SqliteOperations['suppressions'], 'lookup' | 'get'>): SuppressionLookup {
  return { lookup: (address, domain, user, now) => s.lookup(address, domain, user, now), get: (address, scope) => s.get(address, scope) };
}

/** Every synchronous operation as one returning a promise (a throw becomes a rejection). */
export function wrapOperations(ops: SqliteOperations): Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>> {
  const out: Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const [group, methods] of Object.entries(ops) as [string, Record<string, unknown>][]) {
    const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const [name, fn] of Object.entries(methods)) {
      if (typeof fn !== 'function') continue;
      wrapped[name] = (...args: unknown[]) => {
        try {
          return Promise.resolve((fn as (...a: unknown[]) => unknown).apply(methods, args));
        } catch (err) {
          return Promise.reject(err);
        }
      };
    }
    out[group] = wrapped;
  }
  return out;
}
