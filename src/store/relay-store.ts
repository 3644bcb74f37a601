import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import type { Config } from '../config/schema.js';
import { createChunkBodies } from '../spool/chunk-bodies.js';
import { recoverAtStart } from '../spool/recovery.js';
import { createSpool, type Spool } from '../spool/spool.js';
import { immediateTransactions, openDatabase, type Db } from './db.js';
import { deferredStore } from './deferred.js';
import { nodeNameOf, openStore, type OpenedStore } from './open.js';
import type { PostgresStore } from './postgres/engine.js';
import { createQueueStore, type QueueStore } from './queue-store.js';
import { readStoredBody } from './sqlite/stored-bodies.js';

type ClusterLimits = PostgresStore['limits'];

export interface RelayStoreDeps {
  clock: Clock;
  logger: Logger;
  /** SQLite tests: the writer thread's module. */
  writerEntry?: URL | undefined;
}

/** What the relay does when the store can no longer make writes durable (the SQLite writer thread died). */
export interface RelayStoreHooks {
  onWriterFailure: (err: FerryError) => void;
}

/**
 * The store as one relay node holds it: everything that differs between the engines, in one
 * place, so the composition root (src/main.ts) only wires stages to `store` and `spool`.
 *
 * - The engine: PostgreSQL, shared by every node, when store.url is set; else SQLite in dataDir
 *   (all writes and their fsync on a writer thread, with group commit). Opened by open(), at
 *   start; the parts built before reach it through `store`, which throws until then.
 * - Message bodies (the body contract, spool/spool.ts): on SQLite small ones inline in the row
 *   and large ones spool files in dataDir/spool; on PostgreSQL chunk rows every node reads, a
 *   large one staged in dataDir/spool-staging until its commit.
 * - Leases: the name this process claims under (on PostgreSQL its node name in the cluster) and
 *   for how long; webhook cursors are leased only while this node leads the cluster.
 * - Recovery at start, and the writes still in flight at stop.
 */
export function createRelayStore(config: Config, deps: RelayStoreDeps) {
  const { clock, logger } = deps;
  const onPostgres = Boolean(config.store.url);
  const sqliteFile = onPostgres ? null : join(config.dataDir, 'ferry.db');
  // quick_check first: a corrupt database stops the start (exit 4), it is not served as healthy.
  // Immediate transactions: the writer thread writes the same file; see immediateTransactions.
  // Only the SQLite engine has this handle: the parts not on the Store interface yet (and tests) use it.
  const db: Db | null = sqliteFile ? immediateTransactions(openDatabase({ file: sqliteFile, checkIntegrity: true })) : null;
  const queue: QueueStore | null = db ? createQueueStore(db) : null;
  // This process's name on queue claims and webhook leases (on PostgreSQL: its node name in the cluster).
  const nodeName = nodeNameOf(config);
  let opened: OpenedStore | null = null;
  const requireStore = (): OpenedStore => {
    if (!opened) throw new FerryError('FERRY_ERR_STORE', 'the store is not open (ferry not started)');
    return opened;
  };
  const requirePostgres = (): PostgresStore => {
    const s = requireStore();
    if (s.engine !== 'postgres') throw new FerryError('FERRY_ERR_INTERNAL', 'the PostgreSQL store was asked for on SQLite');
    return s;
  };
  const chunkBodies = onPostgres
    ? createChunkBodies({ dir: join(config.dataDir, 'spool-staging'), inlineMaxBytes: config.spool.inlineMaxBytes, openBody: (id) => requirePostgres().messages.openBody(id) })
    : null;
  const spool: Spool = chunkBodies ?? createSpool({ dir: join(config.dataDir, 'spool'), inlineMaxBytes: config.spool.inlineMaxBytes, readRow: readStoredBody });
  const store = deferredStore(requireStore);
  // Events go out to webhooks from one node of the cluster on PostgreSQL (the engine's advisory
  // lock, webhooks.tryLead): a URL's cursor lease is taken only while this node leads; another
  // takes over when it dies.
  const webhookCursors: Store['webhooks'] = {
    ensure: (url, startAfterId, at) => store.webhooks.ensure(url, startAfterId, at),
    get: (url) => store.webhooks.get(url),
    list: () => store.webhooks.list(),
    advance: (url, lastEventId, at) => store.webhooks.advance(url, lastEventId, at),
    fail: (url, error, at) => store.webhooks.fail(url, error, at),
    lease: async (url, owner, now, until) => (!onPostgres || (await requirePostgres().webhooks.tryLead())) && store.webhooks.lease(url, owner, now, until),
    release: (url, owner) => store.webhooks.release(url, owner),
  };
  // The throttle's shared budgets and connection slots, built before the store opens: each call
  // reaches the engine's limits group when it is made.
  const clusterBudgets: Pick<ClusterLimits, 'takeBudget' | 'budgetWindows'> | null = onPostgres
    ? { takeBudget: (...a) => requirePostgres().limits.takeBudget(...a), budgetWindows: (bucket) => requirePostgres().limits.budgetWindows(bucket) }
    : null;
  const clusterConnections: Pick<ClusterLimits, 'takeConnection' | 'renewConnections' | 'releaseConnection' | 'releaseConnectionsOf'> | null = onPostgres
    ? {
        takeConnection: (...a) => requirePostgres().limits.takeConnection(...a),
        renewConnections: (...a) => requirePostgres().limits.renewConnections(...a),
        releaseConnection: (...a) => requirePostgres().limits.releaseConnection(...a),
        releaseConnectionsOf: (owner) => requirePostgres().limits.releaseConnectionsOf(owner),
      }
    : null;

  return {
    engine: (onPostgres ? 'postgres' : 'sqlite') as 'sqlite' | 'postgres',
    /** The Store; its calls throw FERRY_ERR_STORE until open(). */
    store,
    spool,
    nodeName,
    /** How long a claim holds a recipient. */
    leaseMs: onPostgres ? config.store.leaseMs : config.delivery.leaseMs,
    webhookCursors,
    /** PostgreSQL only: the cluster's rate budgets, each send granted by the engine (null on SQLite: one node counts its own). */
    clusterBudgets,
    /** PostgreSQL only: the cluster's connection slots, each connection opened on one (null on SQLite). */
    clusterConnections,
    /** The SQLite file (its integrity is part of readiness); null on PostgreSQL, which checks its own pages. */
    sqliteFile,
    /** SQLite only: the file's own connection. */
    db,
    /** SQLite only, on `db`. */
    queue,
    /** `db` for the relay's callers (Ferry.db); FERRY_ERR_STORE on PostgreSQL. */
    sqliteDb(): Db {
      if (!db) throw new FerryError('FERRY_ERR_STORE', 'ferry.db: this relay runs on PostgreSQL (store.url), not on a SQLite file');
      return db;
    },
    /** `queue` for the relay's callers (Ferry.queue); FERRY_ERR_STORE on PostgreSQL. */
    sqliteQueue(): QueueStore {
      if (!queue) throw new FerryError('FERRY_ERR_STORE', 'ferry.queue: this relay runs on PostgreSQL (store.url), not on a SQLite file');
      return queue;
    },

    /**
     * Opens the engine (on SQLite its writer thread starts; on PostgreSQL the pool and the node's
     * registration), then runs `start`. A start that fails half-way closes the engine again: its
     * writer thread would hold the process open.
     */
    async open<T>(hooks: RelayStoreHooks, start: () => Promise<T>): Promise<T> {
      opened = await openStore(config, {
        role: 'node',
        now: () => clock.now(),
        ...(deps.writerEntry ? { writerEntry: deps.writerEntry } : {}),
        // PostgreSQL: a pooled connection, the heartbeat or the suppression LISTEN failed; the pool
        // reconnects, and a write that cannot be made durable answers 451 meanwhile. SQLite: the
        // WAL checkpointer failed; commits go on and checkpoint inside themselves meanwhile.
        onError: (err) => logger.error({ err: err.message }, `${onPostgres ? 'PostgreSQL' : 'SQLite'} store: ${err.message}`),
        onWriterFailure: hooks.onWriterFailure,
      });
      try {
        return await start();
      } catch (err) {
        await opened?.close();
        opened = null;
        throw err;
      }
    },

    /**
     * Before the relay takes mail. PostgreSQL: the engine released this node's leases when it
     * opened (and registered the node, whose heartbeat `ferry nodes` shows); staged bodies left by
     * a crash go. SQLite: the last run's claims are released and the spool is reconciled with the
     * queue; a committed message whose body is gone is handed to `lostBody`.
     */
    async recover(lostBody: (id: string, reason: string) => Promise<void>): Promise<void> {
      const now = clock.now();
      if (chunkBodies) {
        const swept = await chunkBodies.sweep();
        if (swept) logger.warn({ files: swept }, 'recovery: removed body staging files left by the last run (never answered 250, or already stored)');
        return;
      }
      await recoverAtStart(
        spool,
        {
          releaseOwned: () => store.recipients.releaseOwned(nodeName, now),
          referenced: () => store.messages.spoolFiles(),
          lostBody,
          forgetSpoolFile: (id) => store.messages.forgetSpoolFile(id, now),
        },
        logger,
      );
    },

    /** Waits for the intake commits already sent to the SQLite writer thread to land. */
    async settle(): Promise<void> {
      while (opened?.engine === 'sqlite' && opened.writable && opened.writerStats().inFlight > 0) await new Promise((r) => setTimeout(r, 2));
    },

    /** Closes the engine (it waits for the writes in flight). */
    async close(): Promise<void> {
      await opened?.close();
    },
  };
}

export type RelayStore = ReturnType<typeof createRelayStore>;
