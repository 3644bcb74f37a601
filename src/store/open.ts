import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { FerryError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { openPostgresStore, type PostgresStore } from './postgres/engine.js';
import { openThreadedSqliteStore, type ThreadedSqliteStore } from './sqlite/threaded.js';

/** What the relay needs of any engine beyond the Store interface: health and shutdown. */
export interface StoreHealth {
  /**
   * One cheap check that the engine can still make writes durable: SQLite, that its writer
   * thread lives and the file answers a read; PostgreSQL, a round trip to the server. Rejects
   * with FERRY_ERR_STORE (the relay answers 421 and reports unhealthy meanwhile).
   */
  ping(): Promise<void>;
  /** This process's name in a cluster (lease owner); null for the embedded one-node engine. */
  readonly nodeName: string | null;
}

export type OpenedStore =
  | (ThreadedSqliteStore & StoreHealth & { readonly engine: 'sqlite' })
  | (PostgresStore & StoreHealth);

export interface OpenStoreOptions {
  /**
   * 'node' (default): the relay. PostgreSQL: a node row with heartbeats, this node's leases
   * released at start (it died holding them), the suppression cache's LISTEN, one live process
   * per node name. 'admin': a CLI command acting on the same store, none of that.
   */
  role?: 'node' | 'admin';
  now?: () => number;
  /** SQLite: the writer thread died (nothing more can be made durable: stop accepting). */
  onWriterFailure?: (err: FerryError) => void;
  /**
   * PostgreSQL: an idle connection failed or a background task (heartbeat, LISTEN) did. SQLite:
   * the WAL checkpointer thread failed (writes go on; the WAL is checkpointed inside commits).
   */
  onError?: (err: Error) => void;
  /** SQLite tests: the writer thread's module. */
  writerEntry?: URL;
}

/**
 * This process's name on leases (queue claims, webhook cursors): on PostgreSQL the node's name in
 * the cluster (store.nodeName, default the machine's hostname), else the relay's hostname.
 */
export function nodeNameOf(config: Config): string {
  return config.store.url ? (config.store.nodeName ?? hostname()) : config.hostname;
}

/**
 * The one place the relay and the CLI choose a store engine: PostgreSQL when `store.url` is set
 * (FERRY_STORE_URL is folded into it by config/load.ts), else SQLite in dataDir, threaded (all
 * writes and their fsync on a writer thread, with group commit). Resolves once the store is
 * open and migrated; close() it on shutdown (it waits for writes in flight).
 */
export async function openStore(config: Config, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const now = options.now ?? Date.now;
  if (config.store.url) {
    const asNode = (options.role ?? 'node') === 'node';
    const base = nodeNameOf(config);
    const pg = await openPostgresStore({
      url: config.store.url,
      poolSize: config.store.poolSize,
      // An admin command is not a node: its connections are named apart and hold no node lock.
      nodeName: asNode ? base : `${base} (ferry admin)`,
      version: VERSION,
      heartbeatMs: config.store.heartbeatMs,
      now,
      asNode,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    return pg;
  }
  const sqlite = await openThreadedSqliteStore({
    file: join(config.dataDir, 'ferry.db'),
    maxBatch: config.spool.commitBatchMax,
    ...(options.writerEntry ? { writerEntry: options.writerEntry } : {}),
    ...(options.onWriterFailure ? { onWriterFailure: options.onWriterFailure } : {}),
    ...(options.onError ? { onCheckpointError: options.onError } : {}),
  });
  const ping = async (): Promise<void> => {
    if (!sqlite.writable) throw new FerryError('FERRY_ERR_STORE', 'the SQLite writer thread has failed: nothing more can be made durable');
    try {
      sqlite.readDb.prepare('SELECT 1').get();
    } catch (err) {
      throw new FerryError('FERRY_ERR_STORE', `SQLite store ${join(config.dataDir, 'ferry.db')}: ${(err as Error).message}`, { cause: err });
    }
  };
  return Object.assign(sqlite, { engine: 'sqlite' as const, nodeName: null, ping });
}
