import type { FateOrigin } from '../core/fate.js';
import type { RecipientStatus } from '../core/types.js';

/**
 * Which fate may befall a recipient in which status: the one legality table. The store applies
 * a plan only while the recipient (re-read inside the transaction) is in one of these statuses,
 * so a late or racing writer can never turn a final status into another — except the moves
 * written here:
 *
 * - an asynchronous bounce may turn `delivered` into `bounced` (the remote accepted, then
 *   reported the failure later);
 * - a complaint marks a recipient that was sent to as complained ("spam") without changing its
 *   status; a recipient dropped at intake was never sent, so it cannot be complained about;
 * - an intake drop is the event and report of a recipient born `dropped` in the same transaction.
 */
export const LEGAL_FROM: Readonly<Record<FateOrigin, readonly RecipientStatus[]>> = {
  attempt: ['queued', 'deferred'],
  'async-bounce': ['queued', 'deferred', 'delivered'],
  complaint: ['queued', 'deferred', 'delivered', 'bounced', 'expired'],
  'lost-body': ['queued', 'deferred'],
  'admin-purge': ['queued', 'deferred'],
  expiry: ['queued', 'deferred'],
  'intake-drop': ['dropped'],
};

export function legalFrom(origin: FateOrigin): readonly RecipientStatus[] {
  return LEGAL_FROM[origin];
}
