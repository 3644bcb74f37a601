import type { Logger } from '../core/logger.js';
import type { AppliedFate } from './fate.js';

/**
 * What a classified failure means beyond the recipient's own status (after the commit):
 *
 * - an address put on the suppression list by its fate (outcome/fate-plan.ts writes the entry in
 *   the fate's transaction) is logged;
 * - `blocked`, `policy` and `spam_content` never suppress the recipient: they say something about
 *   the sender's reputation or setup, so they are counted per destination and logged as such.
 */

/** Categories that point at the sender (its IP, domain, content or DNS setup), not the recipient. */
export const SENDER_PROBLEM_CATEGORIES: ReadonlySet<string> = new Set(['blocked', 'policy', 'spam_content']);

/** One destination's count of sender-side problems, by category. */
export interface SenderProblemCount {
  domain: string;
  category: string;
  count: number;
  lastAt: number;
  lastReply: string;
}

export interface Consequences {
  /** After the fates' commit: logs suppressions, counts and logs sender-side problems. */
  onApplied(applied: readonly AppliedFate[]): void;
  /** Sender-side problems seen since start, per destination and category (for metrics). */
  senderProblems(): SenderProblemCount[];
}

export function createConsequences(deps: { logger: Logger; now: () => number }): Consequences {
  const counts = new Map<string, SenderProblemCount>();

  return {
    onApplied(applied) {
      for (const a of applied) {
        if (a.origin !== 'attempt' && a.origin !== 'async-bounce') continue;
        const category = a.decision.classification?.category;
        if (!category) continue;
        if (a.decision.suppress) {
          deps.logger.info(
            { queueId: a.recipient.messageId, recipient: a.recipient.address, category, reply: a.decision.replyText },
            'address suppressed after a bounce',
          );
        }
        if (!SENDER_PROBLEM_CATEGORIES.has(category)) continue;
        const key = `${a.recipient.domain}\u0000${category}`;
        const at = deps.now();
        const entry = counts.get(key) ?? { domain: a.recipient.domain, category, count: 0, lastAt: at, lastReply: '' };
        entry.count++;
        entry.lastAt = at;
        entry.lastReply = a.decision.replyText;
        counts.set(key, entry);
        deps.logger.warn(
          {
            queueId: a.recipient.messageId,
            recipient: a.recipient.address,
            destination: a.recipient.domain,
            mx: a.hop?.host ?? null,
            ip: a.hop?.ip ?? null,
            category,
            reply: a.decision.replyText,
            count: entry.count,
          },
          category === 'policy'
            ? 'sender setup problem: the destination refused the mail on policy grounds (check SPF/DKIM/DMARC, PTR, TLS); the recipient is not suppressed'
            : category === 'spam_content'
              ? 'sender reputation problem: the destination judged the content spam; the recipient is not suppressed'
              : 'sender reputation problem: the destination blocks the sending IP or domain; the recipient is not suppressed',
        );
      }
    },
    senderProblems() {
      return [...counts.values()].map((c) => ({ ...c }));
    },
  };
}
