import type { AuthenticatedUser, ParsedAddress, RecipientDecision, RecipientPolicy } from '../core/policy.js';
import type { SuppressionEntry, SuppressionList } from './suppression-list.js';

export type SuppressionMode = 'drop' | 'reject';

export interface SuppressionPolicyDeps {
  list: SuppressionList;
  /**
   * drop: accept the message, record the recipient as dropped; reject: 550 at RCPT. A function is
   * read at each RCPT, so a config reload changes the mode at once.
   */
  mode: SuppressionMode | (() => SuppressionMode);
}

/** The reason recorded on a dropped recipient and its event starts with this. */
export const DROP_REASON_PREFIX = 'on the suppression list';

/**
 * RCPT-time suppression: one store lookup per recipient, read fresh each time; answered
 * synchronously when the store's lookup is (SQLite, a PostgreSQL cache hit).
 */
export function createSuppressionPolicy(deps: SuppressionPolicyDeps): RecipientPolicy {
  const mode = typeof deps.mode === 'function' ? deps.mode : () => deps.mode as SuppressionMode;
  const decide = (address: ParsedAddress, entry: SuppressionEntry | null): RecipientDecision => {
    if (!entry) return ACCEPT;
    if (mode() === 'drop') {
      return { action: 'drop', reason: `${DROP_REASON_PREFIX}: ${entry.reason || entry.category}`, category: entry.category };
    }
    const since = new Date(entry.createdAt).toISOString().slice(0, 10);
    return {
      action: 'reject',
      code: 550,
      text: `5.7.1 <${address.address}>: recipient is on the suppression list (${entry.category}, since ${since})`,
    };
  };
  return {
    check(address: ParsedAddress, user: AuthenticatedUser | null) {
      const entry = deps.list.check(address, user?.name ?? null);
      return entry instanceof Promise ? entry.then((e) => decide(address, e)) : decide(address, entry);
    },
  };
}

const ACCEPT: RecipientDecision = Object.freeze({ action: 'accept' });
