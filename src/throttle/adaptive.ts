import type { Classification } from '../core/types.js';

/** What the slow-down listener reads of an applied outcome decision (structurally typed). */
export interface AppliedLike {
  recipient: { domain: string };
  decision: { classification: Classification | null; replyText: string };
}

/**
 * The outcome hook for adaptive slow-down. Detection is pluggable: `isRateLimited` is the
 * classifier's verdict (by default category rate_limited). One report per destination per
 * attempt, however many recipients the reply covered.
 */
export function slowDownListener(
  throttle: { rateLimited(domain: string, reason: string): void },
  isRateLimited: (c: Classification) => boolean,
): (applied: readonly AppliedLike[]) => void {
  return (applied) => {
    const seen = new Set<string>();
    for (const a of applied) {
      const c = a.decision.classification;
      if (!c || !isRateLimited(c) || seen.has(a.recipient.domain)) continue;
      seen.add(a.recipient.domain);
      throttle.rateLimited(a.recipient.domain, a.decision.replyText);
    }
  };
}
