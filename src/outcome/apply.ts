import type { FateRecipient } from '../core/fate.js';
import type { AttemptFact } from './decide.js';
import { appliedOf, type AppliedFate, type AttemptContext, type Fate } from './fate.js';

export type { AttemptContext } from './fate.js';

/** One recipient's fact from one attempt. */
export interface ApplyItem {
  recipient: FateRecipient;
  fact: AttemptFact;
  firstQueuedAt: number;
}

export type AppliedDecision = AppliedFate;

/**
 * The delivery attempt's door into outcome/fate: what one attempt said for each of its
 * recipients becomes an `attempt` fate (status, attempt row, event, suppression, DSN line),
 * committed with the other attempts that finish in the same turn of the event loop.
 */
export function createOutcomeApplier(deps: { fate: Fate }) {
  return {
    /** Resolves once the outcome is durable, with what was decided for the recipients still pending. */
    async applySoon(items: ApplyItem[], ctx: AttemptContext): Promise<AppliedDecision[]> {
      if (items.length === 0) return [];
      const results = await deps.fate.record(
        items.map((i) => ({ origin: 'attempt' as const, recipient: i.recipient, facts: { fact: i.fact, firstQueuedAt: i.firstQueuedAt, ctx } })),
      );
      // A recipient purged (or otherwise ended) while in flight stays as it is: nothing is written for it.
      return results.filter((r) => r.applied).map(appliedOf);
    },
  };
}

export type OutcomeApplier = ReturnType<typeof createOutcomeApplier>;
