import type { AuthenticatedUser, ParsedAddress, RecipientDecision, RecipientPolicy, SenderPolicy, SenderRefusal } from '../core/policy.js';

/**
 * Several RCPT-time policies as one: each runs in order, and the first that does not accept
 * decides (so suppression, listed first, drops or rejects before a quota counts the recipient).
 */
export function composeRecipientPolicies(...policies: RecipientPolicy[]): RecipientPolicy {
  // Synchronous while every policy answers synchronously; from the first promise on, the rest wait for it.
  const from = (i: number, address: ParsedAddress, user: AuthenticatedUser | null): RecipientDecision | Promise<RecipientDecision> => {
    for (; i < policies.length; i++) {
      const d = policies[i]!.check(address, user);
      if (d instanceof Promise) {
        const next = i + 1;
        return d.then((r) => (r.action !== 'accept' ? r : from(next, address, user)));
      }
      if (d.action !== 'accept') return d;
    }
    return { action: 'accept' };
  };
  return { check: (address, user) => from(0, address, user) };
}

/** Several MAIL FROM policies as one: the first refusal wins (synchronous until one answers with a promise). */
export function composeSenderPolicies(...policies: SenderPolicy[]): SenderPolicy {
  const from = (i: number, sender: ParsedAddress | null, user: AuthenticatedUser | null): SenderRefusal | null | Promise<SenderRefusal | null> => {
    for (; i < policies.length; i++) {
      const r = policies[i]!.check(sender, user);
      if (r instanceof Promise) {
        const next = i + 1;
        return r.then((x) => x ?? from(next, sender, user));
      }
      if (r) return r;
    }
    return null;
  };
  return { check: (sender, user) => from(0, sender, user) };
}
