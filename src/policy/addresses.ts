import { domainToASCII } from 'node:url';
import type { ParsedAddress } from '../core/policy.js';

const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_ATOM = /^[^\s@<>()[\]\\,;:"]+$/u;

/**
 * Address normalization: the domain lower-cased and IDNs in punycode, the local part kept as
 * sent (it is case-sensitive in principle; most providers ignore case, and suppression lookups
 * lower-case it separately).
 */
export function parseAddress(input: string): ParsedAddress | null {
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1 || input.length > 320) return null;
  const local = input.slice(0, at);
  const rawDomain = input.slice(at + 1);
  if (local.length > 64 || !(LOCAL_ATOM.test(local) || /^"[^"\\\r\n]*"$/.test(local))) return null;
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return null;
  let domain: string;
  if (/^\[[0-9A-Fa-f:.]+\]$/.test(rawDomain) || /^\[IPv6:[0-9A-Fa-f:.]+\]$/i.test(rawDomain)) {
    domain = rawDomain.toLowerCase();
  } else {
    domain = domainToASCII(rawDomain.toLowerCase());
    // Label by label: one regex over the whole name would nest quantifiers (regex-safety test).
    if (!domain || domain.length > 253 || !domain.split('.').every((label) => DOMAIN_LABEL.test(label))) {
      return null;
    }
  }
  return { address: `${local}@${domain}`, local, domain, utf8Local: /[^\x00-\x7f]/.test(local) };
}

/** A user restricted to `allowed` domains may use `domain` or any subdomain of one of them. */
export function domainAllowed(domain: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const d = domain.toLowerCase();
  return allowed.some((a) => d === a || d.endsWith(`.${a}`));
}
