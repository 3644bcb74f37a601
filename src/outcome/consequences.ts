import type { Logger } from '../core/logger.js';
import type { AttemptContext, AppliedDecision, SuppressHook } from './apply.js';

/**
 * What a classified failure means beyond the recipient's own status:
 *
 * - categories the classifier marks `suppress` (and a mailbox that stays full long enough, which
 *   decide() already turns into `suppress`) put the address on the suppression list, with the
 *   remote reply as the reason and `bounce` as the source — inside the outcome transaction;
 * - `blocked`, `policy` and `spam_content` never suppress the recipient: they say something about
 *   the sender's reputation or setup, so they are counted per destination and logged as such.
 */

/** The suppression list as the consequences need it (a slice of SuppressionList). */
export interface SuppressionSink {
  suppress(address: string, category: string, reason: string, source: 'bounce'): unknown;
}

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
  /** For OutcomeDeps.suppress: runs inside the outcome transaction. */
  readonly suppress: SuppressHook;
  /** For OutcomeDeps.onApplied (after the transaction): counts and logs sender-side problems. */
  onApplied(applied: AppliedDecision[], ctx: AttemptContext): void;
  /** Sender-side problems seen since start, per destination and category (for metrics). */
  senderProblems(): SenderProblemCount[];
}

/** The longest reason stored on a suppression entry (remote replies can be long multi-line texts). */
const MAX_REASON_CHARS = 1000;

export function createConsequences(deps: { suppressions: SuppressionSink; logger: Logger; now: () => number }): Consequences {
  const counts = new Map<string, SenderProblemCount>();

  return {
    suppress(address, category, reason) {
      // A bad address in the suppression list would throw and roll back the recipient's outcome:
      // the outcome matters more than the list, so log and carry on.
      try {
        deps.suppressions.suppress(address, category, reason.slice(0, MAX_REASON_CHARS), 'bounce');
      } catch (err) {
        deps.logger.error({ err, recipient: address, category }, 'could not add a bounced address to the suppression list');
      }
    },
    onApplied(applied, ctx) {
      for (const a of applied) {
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
            mx: ctx.hop?.host ?? null,
            ip: ctx.hop?.ip ?? null,
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
