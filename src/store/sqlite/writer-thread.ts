import { closeSync, existsSync, fdatasyncSync, openSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { openDatabase, type Db } from '../db.js';
import { createSqliteOperations, type SqliteOperations } from './operations.js';
import { isRelaxed, revive, serializeError, slimFateResults, SLIM_ANSWER_OPERATIONS, type FromCheckpointer, type FromWriter, type OpMessage, type OpResult, type ToCheckpointer, type ToWriter, type WriterInit } from './writer-protocol.js';
import type { FateResult } from '../../core/fate.js';

/**
 * The SQLite writer thread: owns the one connection that writes, so commits and their sync never
 * run on the relay's event loop. Group commit: operations that arrive while a commit (and its
 * sync) is in progress wait in this thread's message queue; when the commit returns they are all
 * taken into the next transaction, each inside its own SAVEPOINT, so one that fails is rolled
 * back alone and its batch-mates still commit. Each operation's answer is sent only after the
 * COMMIT that covers it returned and, for a durable one, after the WAL was synced (syncWal).
 *
 * Relaxed work (no fsync needed: claims, delivery fates, renewals) that arrives alone while
 * durable commits are flowing (an accept committed within the last relaxedHoldMs) waits up to
 * relaxedHoldMs for the next durable operation and shares its transaction, in arrival order,
 * rather than taking a commit of its own (writer-protocol.ts, RELAXED_HOLD_MS). Durable work
 * never waits.
 *
 * WAL checkpoints run beside the commits, on a checkpointer thread this thread starts
 * (checkpoint-thread.ts), asked every init.checkpointEvery commits: an accept never copies the
 * WAL back into the database before its answer, unless the WAL outgrows SQLite's automatic
 * checkpoint (db.ts), the bound kept for a checkpointer that cannot keep up or has failed.
 */
const port = parentPort!;
const init = workerData as WriterInit;

function send(m: FromWriter): void {
  port.postMessage(m);
}

let db: Db;
let ops: SqliteOperations;
try {
  db = openDatabase({ file: init.file });
  // The connection commits with synchronous=NORMAL (frames written, no sync) and a durable
  // transaction is then synced by syncWal: the same guarantee as FULL, whose sync SQLite makes
  // with fsync() in this build (no HAVE_FDATASYNC), which also writes the WAL's changed mtime
  // (its inode; on a journaling filesystem, a journal commit) on every commit. One level for
  // every transaction: no switch between durable and relaxed ones.
  // SQLite still syncs the WAL before each checkpoint and its header after each restart, as FULL.
  db.exec('PRAGMA synchronous = NORMAL');
  // Statement journals (an accept's savepoints keep the original of every page it changes, ~17
  // pages) in memory: at the default, one past 64 KB spilled to a new file in /var/tmp, created,
  // unlinked and written on every accept (five system calls and filesystem metadata per accept).
  db.exec('PRAGMA temp_store = MEMORY');
  ops = createSqliteOperations(db);
} catch (err) {
  send({ t: 'fatal', error: serializeError(err) });
  process.exit(1);
}

// Prepared once: db.exec() would compile these statements again for every operation (the
// savepoints) and every transaction (BEGIN, COMMIT: two or three transactions per message on a
// busy relay).
const savepoint = db!.prepare('SAVEPOINT op');
const release = db!.prepare('RELEASE op');
const rollbackTo = db!.prepare('ROLLBACK TO op');
const begin = db!.prepare('BEGIN IMMEDIATE');
const commit = db!.prepare('COMMIT');
const rollback = db!.prepare('ROLLBACK');

let checkpointer: Worker | null = null;
let checkpointAsked = false;
let commitsSinceCheckpoint = 0;
/** Catch-up checkpoints after one that copied everything it saw (see below), before waiting for checkpointEvery commits again. */
const MAX_CATCH_UPS = 3;
let catchUps = 0;
if (init.checkpointEvery > 0 && init.file !== ':memory:') {
  // Beside this file: compiled, or the sources under the test runner (whose TypeScript loader
  // this thread's execArgv already holds, threaded.ts).
  const js = new URL('./checkpoint-thread.js', import.meta.url);
  const entry = existsSync(fileURLToPath(js)) ? js : new URL('./checkpoint-thread.ts', import.meta.url);
  const worker = new Worker(entry, { workerData: { file: init.file } });
  checkpointer = worker;
  worker.on('message', (m: FromCheckpointer) => {
    checkpointAsked = false;
    if (m.t !== 'checkpointed') return send({ t: 'checkpoint-failed', error: m.error });
    send(m);
    // It copied all it saw, but commits came meanwhile: the WAL starts again from its beginning
    // only at a commit that finds every frame copied. A catch-up copies just those commits'
    // frames, so it is quick and likely to end before the next commit: otherwise the WAL grows
    // until SQLite's automatic checkpoint (the bound) runs inside a commit.
    if (!m.busy && m.copied === m.frames && commitsSinceCheckpoint > 0 && catchUps < MAX_CATCH_UPS) {
      catchUps++;
      askCheckpoint(true);
    }
  });
  const gone = (error: { code: string | undefined; message: string }): void => {
    if (checkpointer !== worker) return;
    // SQLite's automatic checkpoint (the bound) goes on inside commits: nothing is lost.
    checkpointer = null;
    send({ t: 'checkpoint-failed', error });
  };
  worker.on('error', (err) => gone(serializeError(err)));
  worker.on('exit', (code) => gone({ code: undefined, message: `the checkpointer thread exited (code ${code})` }));
}

function askCheckpoint(catchUp = false): void {
  if (!checkpointer || checkpointAsked || closing) return;
  if (!catchUp) {
    if (commitsSinceCheckpoint < init.checkpointEvery) return;
    catchUps = 0;
  }
  commitsSinceCheckpoint = 0;
  checkpointAsked = true;
  checkpointer.postMessage({ t: 'checkpoint' } satisfies ToCheckpointer);
}

let closeStarted = false;
/** Closes the connection after the checkpointer's (then this one is the last: SQLite checkpoints and removes the WAL). */
function finishClose(): void {
  if (closeStarted) return;
  closeStarted = true;
  const worker = checkpointer;
  checkpointer = null;
  if (!worker) return closeConnection();
  worker.once('exit', closeConnection);
  worker.postMessage({ t: 'close' } satisfies ToCheckpointer);
}

function closeConnection(): void {
  db.close();
  port.close();
}

let queue: OpMessage[] = [];
let scheduled = false;
// Relaxed-only work waiting for the next durable commit (see above), since heldSince.
let held: OpMessage[] = [];
let heldSince = 0;
let holdTimer: NodeJS.Timeout | null = null;
let lastDurableAt = -Infinity;
let closing = false;
let commits = 0;

port.on('message', (m: ToWriter) => {
  if (m.t === 'close') {
    closing = true;
  } else if (queue.length === 0) queue = m.ops;
  else for (const op of m.ops) queue.push(op);
  if (!scheduled) {
    scheduled = true;
    // setImmediate: every message already delivered to this thread joins the batch first.
    setImmediate(flush);
  }
});

function flush(): void {
  scheduled = false;
  if (holdTimer) {
    clearTimeout(holdTimer);
    holdTimer = null;
  }
  const wasHolding = held.length > 0;
  if (wasHolding) {
    queue = held.concat(queue);
    held = [];
  }
  const now = performance.now();
  const since = wasHolding ? heldSince : now;
  if (queue.length > 0 && mayHold(now, since)) {
    held = queue;
    heldSince = since;
    queue = [];
    holdTimer = setTimeout(flush, since + init.relaxedHoldMs - now);
    return;
  }
  while (queue.length > 0) {
    const batch = queue.length <= init.maxBatch ? queue : queue.slice(0, init.maxBatch);
    queue = batch === queue ? [] : queue.slice(batch.length);
    runBatch(batch);
  }
  if (closing) finishClose();
}

/**
 * Whether what waits (relaxed work only) may wait longer for the next durable commit: durable
 * commits are flowing, the oldest of it has waited less than relaxedHoldMs (since), the relay is
 * not closing, and it still fits in one transaction.
 */
function mayHold(now: number, since: number): boolean {
  if (closing || init.relaxedHoldMs <= 0 || queue.length >= init.maxBatch) return false;
  if (now - lastDurableAt >= init.relaxedHoldMs || now - since >= init.relaxedHoldMs) return false;
  return queue.every((op) => isRelaxed(op));
}

const walPath = `${init.file}-wal`;
let wal: { fd: number; ino: number } | null = null;

/**
 * Makes every transaction committed so far durable: fdatasync of the WAL (the file's data and the
 * size that finds it; not its timestamps). Through a descriptor of our own on the WAL's inode,
 * checked against the path on every call: SQLite never deletes the WAL while this connection is
 * open, but a descriptor of a replaced file would sync the wrong one.
 */
function syncWal(): void {
  if (init.file === ':memory:') return; // tests only: nothing to make durable
  const ino = statSync(walPath).ino;
  if (!wal || wal.ino !== ino) {
    if (wal) closeSync(wal.fd);
    wal = { fd: openSync(walPath, 'r'), ino };
  }
  fdatasyncSync(wal.fd);
}

function runOp(op: OpMessage): unknown {
  const fn = (ops as unknown as Record<string, Record<string, ((...a: unknown[]) => unknown) | undefined>>)[op.group]?.[op.method];
  if (!fn) throw Object.assign(new Error(`no store operation ${op.group}.${op.method}`), { code: 'FERRY_ERR_STORE' });
  const value = fn(...(revive(op.args) as unknown[]));
  // The caller has the plans it sent: they do not cross back (writer-protocol.ts).
  return SLIM_ANSWER_OPERATIONS.has(`${op.group}.${op.method}`) ? slimFateResults(value as FateResult[]) : value;
}

function runBatch(batch: OpMessage[]): void {
  const durable = batch.some((op) => !isRelaxed(op));
  const results: OpResult[] = [];
  try {
    begin.run();
  } catch (err) {
    const error = serializeError(err);
    send({ t: 'committed', commit: commits, durable, results: batch.map((op) => ({ id: op.id, ok: false, error })), execMs: 0, commitMs: 0 });
    return;
  }
  const t0 = performance.now();
  if (batch.length === 1) {
    // A lone operation (the usual case when the relay is not busy: one message, one commit)
    // needs no savepoint of its own: if it fails, the whole transaction is rolled back instead.
    const op = batch[0]!;
    try {
      results.push({ id: op.id, ok: true, value: runOp(op) });
    } catch (err) {
      const error = serializeError(err);
      try {
        if (db.inTransaction) rollback.run();
      } catch {
        // the connection already rolled back
      }
      send({ t: 'committed', commit: commits, durable, results: [{ id: op.id, ok: false, error }], execMs: performance.now() - t0, commitMs: 0 });
      return;
    }
  } else {
    for (const op of batch) {
      savepoint.run();
      try {
        const value = runOp(op);
        release.run();
        results.push({ id: op.id, ok: true, value });
      } catch (err) {
        const error = serializeError(err);
        if (db.inTransaction) {
          rollbackTo.run();
          release.run();
        } else {
          // SQLite rolled the whole transaction back (I/O error, disk full): the operations before
          // this one did not happen either; the rest start a new transaction.
          for (let i = 0; i < results.length; i++) results[i] = { id: results[i]!.id, ok: false, error };
          begin.run();
        }
        results.push({ id: op.id, ok: false, error });
      }
    }
  }
  const t1 = performance.now();
  try {
    commit.run();
    commits++;
  } catch (err) {
    // The transaction did not reach the disk (I/O error, disk full): nothing in it happened.
    try {
      if (db.inTransaction) rollback.run();
    } catch {
      // the connection already rolled back
    }
    const error = serializeError(err);
    send({ t: 'committed', commit: commits, durable, results: batch.map((op) => ({ id: op.id, ok: false, error })), execMs: t1 - t0, commitMs: performance.now() - t1 });
    return;
  }
  if (durable) {
    try {
      syncWal();
    } catch (err) {
      // Committed (other connections see it) but not known to be on disk, and after a failed
      // sync the kernel's copy of the file cannot be trusted to reach it later: nothing in this
      // transaction is promised, and nothing more can be made durable. The relay stops accepting.
      const error = serializeError(err);
      send({ t: 'committed', commit: commits, durable, results: batch.map((op) => ({ id: op.id, ok: false, error })), execMs: t1 - t0, commitMs: performance.now() - t1 });
      send({ t: 'fatal', error: { code: 'FERRY_ERR_STORE', message: `syncing ${walPath} failed: ${error.message}` } });
      process.exit(1);
    }
  }
  const t2 = performance.now();
  if (durable) lastDurableAt = t2;
  send({ t: 'committed', commit: commits, durable, results, execMs: t1 - t0, commitMs: t2 - t1 });
  commitsSinceCheckpoint++;
  askCheckpoint();
}

send({ t: 'ready' });
