import type { FatePlan, FateResult, RecordFates } from '../core/fate.js';
import { createAttemptsRepo } from './attempts-repo.js';
import { relaxedDurability, type Db } from './db.js';
import { createDsnOutboxRepo } from './dsn-outbox-repo.js';
import { createEventsRepo } from './events-repo.js';
import { createMessagesRepo } from './messages-repo.js';
import { createRecipientsRepo } from './recipients-repo.js';
import { createSuppressionsRepo } from './suppressions-repo.js';

/**
 * Executes fate plans (decided in outcome/fate): for each recipient, re-read inside the
 * transaction, the legality check, then status, attempt row, event, suppression and DSN outbox
 * line; the DSN lines of one message become one outbox row. The only code that writes a
 * recipient's fate.
 */
export function createFateWrites(db: Db) {
  const recipients = createRecipientsRepo(db);
  const attempts = createAttemptsRepo(db);
  const events = createEventsRepo(db);
  const messages = createMessagesRepo(db);
  const suppressions = createSuppressionsRepo(db);
  const outbox = createDsnOutboxRepo<unknown>(db);

  function writeOne(plan: FatePlan, dsnByMessage: Map<string, unknown[]>): FateResult {
    const current = recipients.get(plan.recipientId);
    const previousStatus = current?.status ?? null;
    const refused = { plan, applied: false, previousStatus, dsnRecorded: false };
    if (!current || !plan.from.includes(current.status)) return refused;
    if (plan.unlessLeasedAfter !== null && (current.leaseUntil ?? 0) > plan.unlessLeasedAfter) return refused;
    if (plan.status) recipients.changeStatus(plan.recipientId, { ...plan.status, at: plan.at });
    if (plan.complained) recipients.markComplained(plan.recipientId, plan.at);
    if (plan.attempt) attempts.insert({ ...plan.attempt, recipientId: plan.recipientId, messageId: plan.messageId });
    events.append({ at: plan.at, messageId: plan.messageId, recipientId: plan.recipientId, recipient: plan.address, ...plan.event });
    if (plan.suppression) {
      const s = plan.suppression;
      suppressions.upsert({ address: s.address, domain: s.domain, category: s.category, reason: s.reason, source: s.source, scope: s.scope, createdAt: plan.at, expiresAt: null });
    }
    if (plan.bodyLost) messages.markBodyLost(plan.messageId, plan.at);
    let dsnRecorded = false;
    if (plan.dsn && (plan.dsnOnce !== 'delay' || recipients.markDelayReported(plan.recipientId, plan.at))) {
      const list = dsnByMessage.get(plan.messageId) ?? [];
      list.push(plan.dsn);
      dsnByMessage.set(plan.messageId, list);
      dsnRecorded = true;
    }
    return { plan, applied: true, previousStatus, dsnRecorded };
  }

  /** Runs inside the caller's transaction when there is one (better-sqlite3 nests it as a savepoint). */
  const writeTx = db.transaction((plans: readonly FatePlan[]): FateResult[] => {
    const dsnByMessage = new Map<string, unknown[]>();
    const results = plans.map((p) => writeOne(p, dsnByMessage));
    const at = plans[0]?.at ?? 0;
    for (const [messageId, lines] of dsnByMessage) outbox.add(messageId, lines, at);
    return results;
  });

  function recordFatesNow(plans: readonly FatePlan[]): FateResult[] {
    if (plans.length === 0) return [];
    // Attempt outcomes commit without their own fsync: losing one to a power cut means a
    // redelivery, which at-least-once allows; the next intake commit makes them durable. Every
    // other fate (a bounce report, a purge, an expiry) would be lost for good: strict.
    if (plans.every((p) => p.origin === 'attempt')) return relaxedDurability(db, () => writeTx(plans));
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
