import { BOUNCE_CATEGORIES } from '../core/types.js';
import type { ParsedAddress } from '../core/policy.js';
import { parseAddress } from '../policy/addresses.js';

/** What a suppression entry is keyed by. */
export interface SuppressionKey {
  /** `local@domain` lower-cased (IDN domain in punycode), or `@domain` for a whole domain. */
  address: string;
  domain: string;
  isDomain: boolean;
}

/** DESIGN.md bounce categories, plus those that come from people rather than remote servers (unsubscribed: a one-click unsubscribe). */
export const SUPPRESSION_CATEGORIES: readonly string[] = [...BOUNCE_CATEGORIES, 'manual', 'complaint', 'unsubscribed'];

export function isSuppressionCategory(value: string): boolean {
  return SUPPRESSION_CATEGORIES.includes(value);
}

/**
 * "Bob@Bücher.Example" → bob@xn--bcher-kva.example; "@Example.COM" (or "*@example.com") → a
 * whole-domain key. null when it is neither an address nor a domain entry.
 */
export function suppressionKey(input: string): SuppressionKey | null {
  const s = input.trim();
  if (s.startsWith('@') || s.startsWith('*@')) {
    const parsed = parseAddress(`x${s.slice(s.indexOf('@'))}`);
    if (!parsed || parsed.domain.startsWith('[')) return null;
    return { address: `@${parsed.domain}`, domain: parsed.domain, isDomain: true };
  }
  const parsed = parseAddress(s);
  return parsed ? keyOf(parsed) : null;
}

export function keyOf(parsed: ParsedAddress): SuppressionKey {
  return { address: `${parsed.local.toLowerCase()}@${parsed.domain}`, domain: parsed.domain, isDomain: false };
}
