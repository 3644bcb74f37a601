import type { FatePlan, FateResult } from '../../core/fate.js';
import { onlyAttempts } from '../fate-rows.js';

/**
 * The message contract between the relay's event loop and the SQLite writer thread. Small and
 * explicit: the main thread sends operations, the thread answers once per commit.
 *
 *   main -> writer   { t: 'ops', ops: [{ id, group, method, args }, ...] }
 *                                                            the Store write operations called in
 *                                                            one turn of the main event loop (one
 *                                                            postMessage per turn, not per op)
 *                    { t: 'close' }                          finish what arrived, close, exit
 *   writer -> main   { t: 'ready' }                          database open and migrated
 *                    { t: 'committed', commit, durable, results, execMs, commitMs }
 *                                                            one transaction is on disk: every
 *                                                            op it held, settled (ok or error)
 *                    { t: 'fatal', error }                   the thread cannot go on (then exits)
 *                    { t: 'checkpointed', ... } / { t: 'checkpoint-failed', error }
 *                                                            what the checkpointer did (statistics)
 *   writer -> checkpointer (checkpoint-thread.ts, started by the writer)
 *                    { t: 'checkpoint' } | { t: 'close' }
 *   checkpointer -> writer
 *                    { t: 'checkpointed', busy, frames, copied, ms } | { t: 'failed', error }
 *
 * Values are structured clones: a Buffer arrives as a Uint8Array (see revive()).
 */
export interface WriterInit {
  file: string;
  /** Most operations one transaction may hold. */
  maxBatch: number;
  /**
   * While durable commits are flowing (one committed within this many ms), work that needs no
   * fsync waits up to this long for the next durable commit and shares it instead of taking a
   * commit of its own (RELAXED_HOLD_MS). 0: never waits.
   */
  relaxedHoldMs: number;
  /**
   * After this many commits the writer asks its checkpointer thread for a WAL checkpoint (one at
   * a time); SQLite's automatic checkpoint inside a commit stays only as the bound on the WAL's
   * size (db.ts, wal_autocheckpoint). 0: no checkpointer, SQLite's automatic checkpoint only.
   */
  checkpointEvery: number;
}

/**
 * Commits between two checkpoints by the checkpointer thread (CHECKPOINT_EVERY). A lone accept
 * writes ~20 WAL frames, mostly the same hot pages (right-hand leaves of the queue's tables and
 * indexes), so 256 of them (~5,000 frames, 20 MB of WAL: half of SQLite's automatic threshold,
 * the bound) copy ~350 distinct pages and sync the database file once — as rare as SQLite's own
 * checkpoint was, and off the accept's path. More often costs the disk: every 32 commits, the
 * checkpoints' syncs beside the accepts' made dot→250's p90 worse in single-phases (bench/
 * RESULTS.md, commit13), and every restart of the WAL (after a checkpoint that copied it all)
 * costs the commit that restarts it a sync of the WAL's header.
 */
export const CHECKPOINT_EVERY = 256;

/**
 * How long relaxed work (claims, delivery fates, lease renewals: RELAXED_OPERATIONS) waits for
 * the next durable commit while the relay is accepting mail. Every commit rewrites the pages it
 * touched (the right-hand leaves of the queue's tables and of their dozen indexes) as new WAL
 * frames (and used to switch the synchronous level twice, before the writer synced the WAL
 * itself): under a steady intake, where an accept commits every few milliseconds, a third of the commits held
 * relaxed work only (bench/RESULTS.md, loop13 session 10). Short against a delivery's own time;
 * a relay that is not accepting never waits (no durable commit to wait for).
 */
export const RELAXED_HOLD_MS = 10;

export interface OpMessage {
  id: number;
  group: string;
  method: string;
  args: unknown[];
}

export type ToWriter = { t: 'ops'; ops: OpMessage[] } | { t: 'close' };

export type ToCheckpointer = { t: 'checkpoint' } | { t: 'close' };

/** One checkpoint: SQLite's answer (frames in the WAL, of which copied) and its time. */
export interface CheckpointDone {
  t: 'checkpointed';
  /** A reader or the writer kept some frames from being copied (PASSIVE does not wait). */
  busy: boolean;
  frames: number;
  copied: number;
  ms: number;
}

export type FromCheckpointer = CheckpointDone | { t: 'failed'; error: SerializedError };

export interface SerializedError {
  code: string | undefined;
  message: string;
}

export type OpResult = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

export type FromWriter =
  | { t: 'ready' }
  | {
      t: 'committed';
      /** Sequence number of this transaction (1, 2, ...): how many commits the writer made. */
      commit: number;
      /** true: the WAL was synced after the COMMIT (fdatasync); false: not (only relaxed operations). */
      durable: boolean;
      results: OpResult[];
      /** Time this transaction took on the writer thread: running its operations, then COMMIT (with its fsync when durable), in ms. */
      execMs: number;
      commitMs: number;
    }
  | CheckpointDone
  | { t: 'checkpoint-failed'; error: SerializedError }
  | { t: 'fatal'; error: SerializedError };

/**
 * Operations whose loss on a power cut is repaired by at-least-once delivery (see
 * relaxedDurability in db.ts): a transaction holding only these commits without an fsync; the
 * next durable commit covers it.
 */
export const RELAXED_OPERATIONS: ReadonlySet<string> = new Set([
  'recipients.claim',
  'recipients.renew',
  'recipients.release',
  'recipients.releaseMany',
  'messages.markSigned',
  'suppressions.hit',
  'suppressions.hitMany',
  'limits.saveStates',
  'quota.saveStates',
  'tlsReports.add',
  'retention.clearBodies',
  'retention.pruneRecords',
]);

/**
 * Whether an operation may commit without an fsync: the RELAXED_OPERATIONS, and `fates.record`
 * when every plan is a delivery attempt's outcome (fate-writes.ts: a lost "delivered" or
 * "deferred" means one redelivery, which at-least-once allows; a bounce report, a purge, an expiry
 * would be lost for good, so any other origin keeps the fsync). Run inside the writer's own
 * transaction, fate-writes' relaxedDurability cannot lower the level itself: the writer decides
 * the level per transaction, here.
 */
export function isRelaxed(op: Pick<OpMessage, 'group' | 'method' | 'args'>): boolean {
  const name = `${op.group}.${op.method}`;
  if (RELAXED_OPERATIONS.has(name)) return true;
  if (name === 'fates.record') {
    const plans = op.args[0];
    return Array.isArray(plans) && onlyAttempts(plans as FatePlan[]);
  }
  return false;
}

/**
 * fates.record answers one result per plan, in order, each holding the plan it was given (about
 * 1.3 KB of structured clone per fate for what the caller already has). The writer answers
 * without the plans (slimFateResults) and the calling thread puts its own objects back
 * (withPlans): the same answer as the in-process engine's, plans identical to those passed.
 */
export const SLIM_ANSWER_OPERATIONS: ReadonlySet<string> = new Set(['fates.record']);

export type SlimFateResult = Omit<FateResult, 'plan'>;

export function slimFateResults(results: readonly FateResult[]): SlimFateResult[] {
  return results.map((r) => ({ applied: r.applied, previousStatus: r.previousStatus, dsnRecorded: r.dsnRecorded }));
}

export function withPlans(results: readonly SlimFateResult[], plans: readonly FatePlan[]): FateResult[] {
  return results.map((r, i) => ({ plan: plans[i]!, ...r }));
}

/** Buffers cross postMessage as Uint8Array: turn them back (better-sqlite3 and callers expect Buffer). */
export function revive(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i]);
    return value;
  }
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = revive(o[k]);
  }
  return value;
}

export function serializeError(err: unknown): SerializedError {
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : undefined, message: typeof e?.message === 'string' ? e.message : String(err) };
}
