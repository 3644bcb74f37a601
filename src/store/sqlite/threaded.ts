import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Store } from '../../core/store.js';
import type { AcceptedMessage } from '../../core/store-types.js';
import { FerryError, type FerryErrorCode } from '../../core/errors.js';
import { openDatabase, type Db } from '../db.js';
import { sqliteSuppressionLookup, wrapOperations } from './engine.js';
import { createSqliteOperations, type SqliteOperations } from './operations.js';
import { createSuppressionsRepo } from '../suppressions-repo.js';
import { CHECKPOINT_EVERY, RELAXED_HOLD_MS, revive, SLIM_ANSWER_OPERATIONS, withPlans, type FromWriter, type OpMessage, type SerializedError, type SlimFateResult, type ToWriter, type WriterInit } from './writer-protocol.js';
import type { FatePlan } from '../../core/fate.js';

/**
 * Reads served on the calling thread from a read-only connection (WAL: a reader never waits for
 * the writer, and sees every transaction committed before it starts: a write's promise resolves
 * only after its commit, so whoever awaited a write reads it back here). Everything else is a
 * write and goes to the writer thread.
 */
export const READ_OPERATIONS: ReadonlySet<string> = new Set([
  'admins.get', 'admins.list',
  'attempts.streakSince', 'attempts.forMessage', 'attempts.recentTls',
  'dkimKeys.list', 'dkimKeys.byDomain',
  'dsnOutbox.list', 'dsnOutbox.count',
  'events.lastId', 'events.forMessage', 'events.list', 'events.count', 'events.settledAfter',
  'limits.list', 'limits.get', 'limits.states', 'limits.slowed',
  'messages.get', 'messages.head', 'messages.getSummary', 'messages.list', 'messages.count', 'messages.spoolFiles', 'messages.signedAt',
  'queueAdmin.summary', 'queueAdmin.messageExists', 'queueAdmin.destinations',
  'mtaSts.get', 'tlsReports.day', 'tlsReports.domain', 'tlsReports.pending', 'tlsReports.sent', 'tlsReports.sentOnDay',
  'quota.get', 'quota.list', 'quota.state', 'quota.states',
  'recipients.forMessage', 'recipients.get', 'recipients.overdue', 'recipients.nextDueAt', 'recipients.search',
  'retention.bodies', 'retention.bodyOf', 'retention.oldMessages', 'retention.keepReason', 'retention.countRecord', 'retention.webhookSentUpTo',
  'stats.queueDepth', 'stats.oldestQueued', 'stats.recipientsSince', 'stats.topCategories', 'stats.failingDestinations',
  'stats.attemptsSince', 'stats.lastDelivery', 'stats.spoolBodies', 'stats.suppressions',
  'stats.hourly', 'stats.topDomains', 'stats.hourlyCategories',
  'suppressions.lookup', 'suppressions.get', 'suppressions.forAddress', 'suppressions.list', 'suppressions.count',
  'suppressions.page', 'suppressions.drops', 'suppressions.byId', 'suppressions.browse',
  'users.get', 'users.list',
  'webhooks.get', 'webhooks.list',
]);

/** Page cache of the RCPT-time lookup's connection, in pages (4 KB each). */
const LOOKUP_CACHE_PAGES = 16;

export interface ThreadedStoreOptions {
  /** The SQLite file (created and migrated by the writer thread if needed). */
  file: string;
  /** Most operations one transaction may hold (spool.commitBatchMax). */
  maxBatch?: number;
  /** Longest wait of relaxed work for the next durable commit while intake commits (default RELAXED_HOLD_MS; 0: none). */
  relaxedHoldMs?: number;
  /** Commits between WAL checkpoints by the checkpointer thread (default CHECKPOINT_EVERY; 0: SQLite's automatic checkpoint inside commits only). */
  checkpointEvery?: number;
  /**
   * The WAL checkpointer thread failed a checkpoint or stopped. Nothing is lost and writes go on:
   * SQLite's automatic checkpoint (inside a commit, as before the checkpointer) bounds the WAL.
   */
  onCheckpointError?: (err: FerryError) => void;
  /** Called once if the writer thread dies: the relay must stop accepting (421) — nothing more can be made durable. */
  onWriterFailure?: (err: FerryError) => void;
  /** The thread's module (tests: the compiled one when it is up to date; default: beside this file). */
  writerEntry?: URL;
}

export interface WriterStats {
  /** Transactions the writer committed. */
  commits: number;
  /** Of those, with an fsync (synchronous=FULL). */
  durableCommits: number;
  /** Write operations settled. */
  operations: number;
  /** Write operations sent and not yet answered. */
  inFlight: number;
  /** Messages posted to the writer thread: one per event-loop turn that made writes, not one per write. */
  posts: number;
  /** Time the writer thread spent running operations, and in COMMIT (and the sync of durable ones), in ms, all commits together. */
  execMs: number;
  commitMs: number;
  /** WAL checkpoints the checkpointer thread made, WAL frames they copied, their time in ms; failed ones. */
  checkpoints: number;
  checkpointedFrames: number;
  checkpointMs: number;
  checkpointFailures: number;
}

export interface ThreadedSqliteStore extends Store {
  /**
   * The same reads, synchronous, on this thread's read-only connection: for the few hot paths
   * that cannot afford a promise per call. Never writes. (The RCPT-time suppression lookup,
   * suppressionLookup, has a read-only connection of its own with a small cache.)
   */
  readonly readNow: SqliteOperations;
  /** The read-only connection (health checks, console queries that still take a Db). */
  readonly readDb: Db;
  /** false once the writer thread has failed. */
  readonly writable: boolean;
  writerStats(): WriterStats;
  /** Stops the writer thread abruptly, as a crash would (tests of the failure path). */
  killWriter(): Promise<void>;
}

function writerEntry(): URL {
  const js = new URL('./writer-thread.js', import.meta.url);
  // Under the test runner the sources run as TypeScript; the worker inherits its loader.
  if (existsSync(fileURLToPath(js))) return js;
  return new URL('./writer-thread.ts', import.meta.url);
}

function toError(e: SerializedError): Error {
  if (e.code?.startsWith('FERRY_ERR_')) return new FerryError(e.code as FerryErrorCode, e.message);
  const err = new FerryError('FERRY_ERR_STORE', e.message);
  if (e.code) Object.assign(err, { sqliteCode: e.code });
  return err;
}

/**
 * Message bodies of at least this size move to the writer thread (their memory is transferred,
 * not copied by the structured clone: ~40 µs of the SMTP thread's time per 100 KB message).
 */
export const TRANSFER_MIN_BYTES = 16 * 1024;

/**
 * queue.accept takes ownership of large inline bodies and header blocks: a Buffer of at least
 * TRANSFER_MIN_BYTES that is the only view of its memory (not a slice of Node's shared pool nor
 * of a larger buffer) is transferred to the writer and is empty (detached) on this thread
 * afterwards. The intake never reads a message's Buffers after handing it to the store.
 */
function transferBodies(batch: AcceptedMessage[] | undefined, into: Set<ArrayBuffer>): void {
  if (!Array.isArray(batch)) return;
  for (const item of batch) {
    for (const b of [item?.message?.body, item?.message?.headers]) {
      if (b instanceof Uint8Array && b.byteLength >= TRANSFER_MIN_BYTES && b.byteOffset === 0 && b.buffer instanceof ArrayBuffer && b.buffer.byteLength === b.byteLength) {
        into.add(b.buffer);
      }
    }
  }
}

/**
 * The SQLite engine for the relay: writes on a writer thread (writer-thread.ts) with real group
 * commit, reads on a read-only connection in this thread. Resolves once the database is open and
 * migrated.
 */
export async function openThreadedSqliteStore(options: ThreadedStoreOptions): Promise<ThreadedSqliteStore> {
  const init: WriterInit = {
    file: options.file,
    maxBatch: options.maxBatch ?? 500,
    relaxedHoldMs: options.relaxedHoldMs ?? RELAXED_HOLD_MS,
    checkpointEvery: options.checkpointEvery ?? CHECKPOINT_EVERY,
  };
  const entry = options.writerEntry ?? writerEntry();
  // Module hooks of the parent (a test runner's coverage and mocks) cost seconds per thread and
  // mean nothing to the writer: it keeps only the TypeScript loader, and only to run from sources.
  const fromSources = entry.pathname.endsWith('.ts');
  // Process-wide V8 flags (--perf-basic-prof for perf's JIT symbols) are refused in a Worker's execArgv.
  const execArgv = process.execArgv.filter((a) => !/^--perf-/.test(a) && (!/^--(import|loader|experimental-loader|require)\b/.test(a) || (fromSources && a.includes('typescript'))));
  const worker = new Worker(entry, { workerData: init, execArgv });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextId = 1;
  let failure: FerryError | null = null;
  let closing = false;
  const stats = { commits: 0, durableCommits: 0, operations: 0, execMs: 0, commitMs: 0, posts: 0, checkpoints: 0, checkpointedFrames: 0, checkpointMs: 0, checkpointFailures: 0 };

  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: FromWriter) => {
      if (m.t === 'ready') {
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve();
      } else if (m.t === 'fatal') {
        reject(toError(m.error));
      }
    };
    const onError = (err: Error) => reject(new FerryError('FERRY_ERR_STORE', `database writer thread failed to start: ${err.message}`, { cause: err }));
    worker.on('message', onMessage);
    worker.on('error', onError);
  });

  function fail(err: FerryError): void {
    if (failure) return;
    failure = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    options.onWriterFailure?.(err);
  }

  worker.on('message', (m: FromWriter) => {
    if (m.t === 'committed') {
      stats.commits = Math.max(stats.commits, m.commit);
      if (m.durable && m.results.some((r) => r.ok)) stats.durableCommits++;
      stats.execMs += m.execMs;
      stats.commitMs += m.commitMs;
      for (const r of m.results) {
        const p = pending.get(r.id);
        if (!p) continue;
        pending.delete(r.id);
        stats.operations++;
        if (r.ok) p.resolve(revive(r.value));
        else p.reject(toError(r.error));
      }
    } else if (m.t === 'checkpointed') {
      stats.checkpoints++;
      stats.checkpointedFrames += m.copied;
      stats.checkpointMs += m.ms;
    } else if (m.t === 'checkpoint-failed') {
      stats.checkpointFailures++;
      options.onCheckpointError?.(new FerryError('FERRY_ERR_STORE', `SQLite WAL checkpointer: ${m.error.message} (the WAL is checkpointed inside commits meanwhile)`));
    } else if (m.t === 'fatal') {
      fail(new FerryError('FERRY_ERR_STORE', `database writer thread failed: ${m.error.message}`));
    }
  });
  worker.on('error', (err) => fail(new FerryError('FERRY_ERR_STORE', `database writer thread crashed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => {
    if (!closing || pending.size > 0) fail(new FerryError('FERRY_ERR_STORE', `database writer thread exited (code ${code})`));
  });

  let readDb: Db;
  try {
    readDb = openDatabase({ file: options.file, readonly: true, create: false });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  const readNow = createSqliteOperations(readDb);
  const reads = wrapOperations(readNow);
  // The RCPT-time suppression read has a read-only connection of its own with a small page
  // cache: every commit of the writer thread (all the time on a busy relay) empties a
  // connection's whole cache at its next read, and emptying the default 2 MB cost more than the
  // lookup itself (bench/rcpt-lookup.mjs, "a commit before each"). 64 KB holds the upper levels
  // of the index between lookups when nothing was written.
  let lookupDb: Db;
  try {
    lookupDb = openDatabase({ file: options.file, readonly: true, create: false });
    lookupDb.pragma(`cache_size = ${LOOKUP_CACHE_PAGES}`);
  } catch (err) {
    readDb.close();
    await worker.terminate();
    throw err;
  }

  // Hand-off batching: the writes called in one turn of this event loop (e.g. every DATA stream
  // that ended in one I/O phase) cross to the writer in ONE postMessage, sent from a microtask at
  // the end of the turn: one structured clone and one wake-up of the writer instead of one per
  // write, and no added latency (the microtask runs before the loop goes back to poll).
  let outbox: OpMessage[] = [];
  let transfer = new Set<ArrayBuffer>();
  const post = (): void => {
    if (outbox.length === 0) return; // close() already sent them
    const ops = outbox;
    const list = transfer.size > 0 ? [...transfer] : undefined;
    outbox = [];
    transfer = new Set();
    stats.posts++;
    worker.postMessage({ t: 'ops', ops } satisfies ToWriter, list);
  };

  function write(group: string, method: string, args: unknown[]): Promise<unknown> {
    if (failure) return Promise.reject(failure);
    if (closing) return Promise.reject(new FerryError('FERRY_ERR_SHUTDOWN', 'the store is closing'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (SLIM_ANSWER_OPERATIONS.has(`${group}.${method}`)) {
        const plans = args[0] as FatePlan[];
        pending.set(id, { resolve: (v) => resolve(withPlans(v as SlimFateResult[], plans)), reject });
      } else pending.set(id, { resolve, reject });
      if (outbox.length === 0) queueMicrotask(post);
      outbox.push({ id, group, method, args });
      if (group === 'queue' && method === 'accept') transferBodies(args[0] as AcceptedMessage[], transfer);
    });
  }

  const groups: Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const [group, methods] of Object.entries(reads)) {
    const g: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const method of Object.keys(methods)) {
      g[method] = READ_OPERATIONS.has(`${group}.${method}`) ? methods[method]! : (...args: unknown[]) => write(group, method, args);
    }
    groups[group] = g;
  }
  groups['fates'] ??= {};

  const store = {
    ...(groups as unknown as Omit<Store, 'engine' | 'close' | 'suppressionLookup'>),
    engine: 'sqlite' as const,
    readNow,
    suppressionLookup: sqliteSuppressionLookup(createSuppressionsRepo(lookupDb)),
    readDb,
    get writable() {
      return failure === null;
    },
    writerStats: (): WriterStats => ({ ...stats, inFlight: pending.size }),
    async killWriter() {
      await worker.terminate();
    },
    async close() {
      if (closing) return;
      closing = true;
      if (!failure) {
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        if (outbox.length > 0) post(); // writes called in this very turn go before the close
        worker.postMessage({ t: 'close' });
        await exited;
      }
      if (readDb.open) readDb.close();
      if (lookupDb.open) lookupDb.close();
    },
  };
  return store;
}
