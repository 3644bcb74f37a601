import { bornDropped, type AcceptedDrop } from '../core/dropped.js';
import type { QueueStoreOps } from '../core/store.js';
import type { AcceptedMessage, SuppressionRow } from '../core/store-types.js';
import type { Fate, FateInput } from './fate.js';

export interface IntakeDropsDeps {
  /** The store's intake commit. */
  queue: Pick<QueueStoreOps, 'accept'>;
  fate: Pick<Fate, 'plan' | 'committed'>;
  /**
   * The suppression entry that dropped a recipient, for the sender's report; null: none is read
   * (reports of dropped recipients are off).
   */
  suppressionOf: ((address: string, user: string | null) => Promise<SuppressionRow | null>) | null;
}

/**
 * The intake's commit with the fates of the recipients dropped at intake (origin intake-drop:
 * event, report to the sender): planned here before the commit and written by the engine in the
 * intake transaction itself (plain-data plans, ids filled in there); outcome/fate's after-commit
 * hook runs once the commit is answered.
 */
export function withIntakeDropFates(deps: IntakeDropsDeps): { queue: Pick<QueueStoreOps, 'accept'> } {
  // A recipient dropped at intake: the suppression entry that dropped it goes into the sender's report.
  async function intakeDrop(d: AcceptedDrop): Promise<FateInput> {
    const entry = deps.suppressionOf ? await deps.suppressionOf(d.recipient.address, d.user) : null;
    return { origin: 'intake-drop', recipient: d.recipient, facts: { reason: d.reason, category: entry?.category ?? d.category, suppressedAt: entry?.createdAt ?? null } };
  }
  const withDropFates = async (m: AcceptedMessage): Promise<AcceptedMessage> => {
    const drops = bornDropped(m);
    return drops.length ? { ...m, dropFates: deps.fate.plan(await Promise.all(drops.map(intakeDrop))) } : m;
  };
  return {
    queue: {
      accept: async (batch) => {
        const results = await deps.queue.accept(await Promise.all(batch.map(withDropFates)));
        if (results.length) deps.fate.committed(results);
        return results;
      },
    },
  };
}
