import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase, type Db } from '../db.js';
import { createSqliteOperations, type SqliteOperations } from './operations.js';
import { isRelaxed, revive, serializeError, slimFateResults, SLIM_ANSWER_OPERATIONS, type FromWriter, type OpMessage, type OpResult, type ToWriter, type WriterInit } from './writer-protocol.js';
import type { FateResult } from '../../core/fate.js';

/**
 * The SQLite writer thread: owns the one connection that writes, so commits and their fsync never
 * run on the relay's event loop. Group commit: operations that arrive while a commit (and its
 * fsync) is in progress wait in this thread's message queue; when the commit returns they are all
 * taken into the next transaction, each inside its own SAVEPOINT, so one that fails is rolled
 * back alone and its batch-mates still commit. Each operation's answer is sent only after the
 * COMMIT that covers it returned (with synchronous=FULL: after the fsync).
 *
 * Relaxed work (no fsync needed: claims, delivery fates, renewals) that arrives alone while
 * durable commits are flowing (an accept committed within the last relaxedHoldMs) waits up to
 * relaxedHoldMs for the next durable operation and shares its transaction, in arrival order,
 * rather than taking a commit of its own (writer-protocol.ts, RELAXED_HOLD_MS). Durable work
 * never waits.
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
  ops = createSqliteOperations(db);
} catch (err) {
  send({ t: 'fatal', error: serializeError(err) });
  process.exit(1);
}

// Prepared once: db.exec() would compile these statements again for every operation (the
// savepoints) and every transaction (BEGIN, COMMIT: two or three transactions per message on a
// busy relay). Not the PRAGMA that sets the durability level: SQLite applies that one when the
// statement is compiled, so a prepared copy would not reliably change it (see setSynchronous).
const savepoint = db!.prepare('SAVEPOINT op');
const release = db!.prepare('RELEASE op');
const rollbackTo = db!.prepare('ROLLBACK TO op');
const begin = db!.prepare('BEGIN IMMEDIATE');
const commit = db!.prepare('COMMIT');
const rollback = db!.prepare('ROLLBACK');

let queue: OpMessage[] = [];
let scheduled = false;
// Relaxed-only work waiting for the next durable commit (see above), since heldSince.
let held: OpMessage[] = [];
let heldSince = 0;
let holdTimer: NodeJS.Timeout | null = null;
let lastDurableAt = -Infinity;
let closing = false;
let commits = 0;
let synchronous: 'FULL' | 'NORMAL' = 'FULL';

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
  if (closing) {
    db.close();
    port.close();
  }
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

/**
 * Compiled each time, which is when SQLite applies it: never a prepared copy. Through db.exec
 * (sqlite3_exec: compile, step, finalize in C), not db.pragma, which wraps the same in a
 * JavaScript statement object and reads its (empty) result: 2.6 µs per switch against 14 µs,
 * measured in a loop; a busy relay switches twice per message (durable accepts between relaxed
 * claims and fates).
 */
const SET_SYNCHRONOUS = { FULL: 'PRAGMA synchronous = FULL', NORMAL: 'PRAGMA synchronous = NORMAL' } as const;
function setSynchronous(level: 'FULL' | 'NORMAL'): void {
  if (synchronous === level) return;
  db.exec(SET_SYNCHRONOUS[level]);
  synchronous = level;
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
    setSynchronous(durable ? 'FULL' : 'NORMAL');
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
  const t2 = performance.now();
  if (durable) lastDurableAt = t2;
  send({ t: 'committed', commit: commits, durable, results, execMs: t1 - t0, commitMs: t2 - t1 });
}

send({ t: 'ready' });
