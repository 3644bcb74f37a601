import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { MessagesStore, RecipientsStore } from '../core/store.js';
import type { Fate } from './fate.js';

export interface ExpiryDeps {
  fate: Pick<Fate, 'record'>;
  recipients: Pick<RecipientsStore, 'forMessage' | 'overdue'>;
  messages: Pick<MessagesStore, 'markBodyLost'>;
  clock: Clock;
  logger: Logger;
  /** delivery.maxAgeHours, read at each sweep (a reload changes it). */
  maxAgeHours: () => number;
  /** A sweep found a full batch: more may be overdue (the scheduler sweeps again). */
  onFullBatch: () => void;
}

/** How many overdue recipients one sweep ends. */
const SWEEP_BATCH = 500;

/**
 * The fates that end a message's recipients without an attempt: a lost body (origin lost-body)
 * and the maximum age passing (origin expiry). Each goes through outcome/fate, so the sender is
 * told as for a bounce.
 */
export function createExpiry(deps: ExpiryDeps) {
  const { fate, clock, logger } = deps;
  return {
    /**
     * A lost body (a disk fault) ends the message's pending recipients (the sender is told);
     * reported once: the row stops pointing at the lost file, so no later start reports it again.
     */
    async lostBody(id: string, reason: string): Promise<void> {
      // The legality table decides which recipients are still pending; a message with none left only forgets its file.
      const results = await fate.record((await deps.recipients.forMessage(id)).map((r) => ({ origin: 'lost-body' as const, recipient: r, facts: { reason } })));
      if (!results.some((r) => r.applied)) await deps.messages.markBodyLost(id, clock.now());
    },

    /** Expiry on time: recipients that no attempt would reach before their maximum age passes. Returns how many ended. */
    async overdue(now: number): Promise<number> {
      const maxAgeHours = deps.maxAgeHours();
      const rows = await deps.recipients.overdue(now, maxAgeHours * 3_600_000, SWEEP_BATCH);
      if (rows.length === 0) return 0;
      const reason = `not delivered within ${maxAgeHours} hour${maxAgeHours === 1 ? '' : 's'} (delivery.maxAgeHours)`;
      const results = await fate.record(rows.map((r) => ({ origin: 'expiry' as const, recipient: r, facts: { reason } })));
      logger.info({ recipients: rows.length, queueIds: [...new Set(rows.map((r) => r.messageId))].slice(0, 20) }, 'expired: maximum age passed before the next attempt');
      if (rows.length === SWEEP_BATCH) deps.onFullBatch();
      return results.filter((r) => r.applied).length;
    },
  };
}

export type Expiry = ReturnType<typeof createExpiry>;
