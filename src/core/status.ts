import type { RecipientStatus } from './types.js';

/**
 * The legal moves of a recipient's status. Final states never move again, with one exception:
 * an asynchronous bounce report may turn `delivered` into `bounced` (the remote accepted, then
 * bounced later).
 */
const ALLOWED: Readonly<Record<RecipientStatus, readonly RecipientStatus[]>> = {
  queued: ['deferred', 'delivered', 'bounced', 'expired', 'dropped'],
  deferred: ['deferred', 'delivered', 'bounced', 'expired', 'dropped'],
  delivered: ['bounced'],
  bounced: [],
  dropped: [],
  expired: [],
};

export function canTransition(from: RecipientStatus, to: RecipientStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** The statuses a recipient may be in for a move to `to` to be legal. */
export function sourcesOf(to: RecipientStatus): RecipientStatus[] {
  return (Object.keys(ALLOWED) as RecipientStatus[]).filter((from) => ALLOWED[from].includes(to));
}
