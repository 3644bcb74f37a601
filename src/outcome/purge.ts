import type { FateRecipient, FateResult } from '../core/fate.js';
import type { FateInput } from './fate-plan.js';

/**
 * An admin purge (`ferry queue purge`, the console's Purge) as fates: each selected pending
 * recipient ends `expired` with the admin's reason, an event, and — like any expiry — a report
 * to its sender.
 */
export function purgeInputs(rows: readonly FateRecipient[], reason: string): FateInput[] {
  return rows.map((recipient) => ({ origin: 'admin-purge', recipient, facts: { reason } }));
}

/** How many were ended, and how many of those a worker was delivering at that moment. */
export function purgeSummary(rows: readonly FateRecipient[], results: readonly FateResult[], now: number): { purged: number; inFlight: number } {
  const ended = new Set(results.filter((r) => r.applied).map((r) => r.plan.recipientId));
  const purged = rows.filter((r) => ended.has(r.id));
  return { purged: purged.length, inFlight: purged.filter((r) => (r.leaseUntil ?? 0) > now).length };
}
