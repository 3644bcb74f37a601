import type { FatePlan, FateResult, RecordFates } from '../core/fate.js';
import { DsnLines, dsnRowTime, fateAllowed, fateAppliedResult, fateRefusedResult, fateRows, onlyAttempts } from './fate-rows.js';
import { createAttemptsRepo } from './attempts-repo.js';
import { atomic } from './atomic.js';
import { relaxedDurability, type Db } from './db.js';
import { createDsnOutboxRepo } from './dsn-outbox-repo.js';
import { createEventsRepo } from './events-repo.js';
import { createMessagesRepo } from './messages-repo.js';
import { createRecipientsRepo } from './recipients-repo.js';
import { createSuppressionsRepo } from './suppressions-repo.js';

/**
 * Executes fate plans (decided in outcome/fate) on SQLite: for each recipient, re-read inside the
 * transaction, the legality check, then status, attempt row, event, suppression and DSN outbox
 * line; the DSN lines of one message become one outbox row. How a plan reads (legality, rows)
 * is fate-rows.ts, shared with the PostgreSQL engine (postgres/fates.ts); only SQL is here.
 */
export function createFateWrites(db: Db) {
  const recipients = createRecipientsRepo(db);
  const attempts = createAttemptsRepo(db);
  const events = createEventsRepo(db);
  const messages = createMessagesRepo(db);
  const suppressions = createSuppressionsRepo(db);
  const outbox = createDsnOutboxRepo<unknown>(db);

  function writeOne(plan: FatePlan, dsn: DsnLines): FateResult {
    const current = recipients.leaseOf(plan.recipientId);
    if (!fateAllowed(plan, current)) return fateRefusedResult(plan, current);
    const rows = fateRows(plan);
    if (rows.status) recipients.changeStatus(plan.recipientId, rows.status);
    if (rows.complainedAt !== null) recipients.markComplained(plan.recipientId, rows.complainedAt);
    if (rows.attempt) attempts.insert(rows.attempt);
    events.append(rows.event);
    if (rows.suppression) suppressions.upsert(rows.suppression);
    if (rows.bodyLostAt !== null) messages.markBodyLost(plan.messageId, rows.bodyLostAt);
    let dsnRecorded = false;
    if (rows.dsn && (rows.dsn.once !== 'delay' || recipients.markDelayReported(plan.recipientId, plan.at))) {
      dsn.add(plan.messageId, rows.dsn.line);
      dsnRecorded = true;
    }
    return fateAppliedResult(plan, current, dsnRecorded);
  }

  /**
   * Runs inside the caller's transaction when there is one, without a savepoint of its own
   * (atomic.ts: the writer thread's per-operation savepoint, or the caller's transaction, rolls
   * it back on a throw); alone, it is its own transaction.
   */
  const writeTx = atomic(db, (plans: readonly FatePlan[]): FateResult[] => {
    const dsn = new DsnLines();
    const results = plans.map((p) => writeOne(p, dsn));
    for (const [messageId, lines] of dsn.entries()) outbox.add(messageId, lines, dsnRowTime(plans));
    return results;
  });

  function recordFatesNow(plans: readonly FatePlan[]): FateResult[] {
    if (plans.length === 0) return [];
    // Attempt outcomes commit without their own fsync: losing one to a power cut means a
    // redelivery, which at-least-once allows; the next intake commit makes them durable. Every
    // other fate (a bounce report, a purge, an expiry) would be lost for good: strict.
    if (onlyAttempts(plans)) return relaxedDurability(db, () => writeTx(plans));
    return writeTx(plans);
  }

  const recordFates: RecordFates = async (plans) => recordFatesNow(plans);

  return {
    /** The store operation the pipeline uses (the writer thread will run it off the event loop). */
    recordFates,
    /** The same, synchronous: inside another transaction of this database (intake), or in the CLI. */
    recordFatesNow,
  };
}

export type FateWrites = ReturnType<typeof createFateWrites>;
