import { createClassifier } from '../../src/classify/classifier.js';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import { seededRandom } from '../../src/core/random.js';
import type { RetryPolicy } from '../../src/outcome/decide.js';
import { createOutcomeApplier } from '../../src/outcome/apply.js';
import { createFate, type AppliedFate } from '../../src/outcome/fate.js';
import type { Db } from '../../src/store/db.js';
import { createFateWrites } from '../../src/store/fate-writes.js';
import { createQueueStore, type AcceptedMessage } from '../../src/store/queue-store.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';

export const RETRY: RetryPolicy = { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 72 };

/** outcome/fate over a real database, as main.ts wires it (the store's fates.record, one hook after commit). */
export function fateFor(
  db: Db,
  opts: {
    clock: Clock;
    retry?: RetryPolicy;
    logger?: Logger;
    dsn?: { onDropped: boolean; delayAfterHours?: number } | null;
    afterCommit?: (applied: AppliedFate[]) => void;
  },
) {
  const writes = createFateWrites(db);
  const store = createInProcessSqliteStore(db);
  const fate = createFate({
    fates: store.fates,
    classifier: createClassifier(),
    retry: opts.retry ?? RETRY,
    clock: opts.clock,
    random: seededRandom(1),
    logger: opts.logger ?? silentLogger(),
    mailboxFullSince: (id) => store.attempts.streakSince(id, 'mailbox_full'),
    dsn: opts.dsn ?? null,
    afterCommit: opts.afterCommit,
  });
  return { fate, writes, store, outcome: createOutcomeApplier({ fate }) };
}

/**
 * Commits accepted messages as intake does in main.ts: the rows, and in the same transaction the
 * fate of each recipient born dropped (its event, and its report when `dsn` says so).
 */
export function acceptWithFates(db: Db, batch: AcceptedMessage[], dsn: { onDropped: boolean } | null = null): void {
  const queue = createQueueStore(db);
  const { fate, writes } = fateFor(db, { clock: new ManualClock(0), dsn });
  db.transaction(() => {
    const drops = queue.accept(batch);
    writes.recordFatesNow(fate.plan(drops.map((d) => ({ origin: 'intake-drop' as const, recipient: d.recipient, facts: { reason: d.reason, category: d.category, suppressedAt: null } }))));
  })();
}
