import type { AuthenticatedUser, ParsedAddress, RecipientDecision, RecipientPolicy, SenderPolicy } from '../core/policy.js';

/**
 * Several RCPT-time policies as one: each runs in order, and the first that does not accept
 * decides (so suppression, listed first, drops or rejects before a quota counts the recipient).
 */
export function composeRecipientPolicies(...policies: RecipientPolicy[]): RecipientPolicy {
  return {
    check(address: ParsedAddress, user: AuthenticatedUser | null): RecipientDecision {
      for (const p of policies) {
        const d = p.check(address, user);
        if (d.action !== 'accept') return d;
      }
      return { action: 'accept' };
    },
  };
}

/** Several MAIL FROM policies as one: the first refusal wins. */
export function composeSenderPolicies(...policies: SenderPolicy[]): SenderPolicy {
  return {
    check(sender, user) {
      for (const p of policies) {
        const r = p.check(sender, user);
        if (r) return r;
      }
      return null;
    },
  };
}
