/**
 * MTA-STS MX matching (RFC 8461 §4.1): a pattern is a host name, or "*." followed by one; the
 * wildcard stands for exactly one leftmost label, so "*.example.com" covers "mx.example.com" but
 * neither "example.com" nor "a.b.example.com" (mailauth 4.13 wrongly accepts the latter).
 * Comparison is case-insensitive and ignores one trailing dot.
 */

function canonical(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

export function mxMatches(pattern: string, host: string): boolean {
  const p = canonical(pattern);
  const h = canonical(host);
  if (p === '' || h === '') return false;
  if (!p.startsWith('*.')) return p === h;
  const suffix = p.slice(2);
  if (suffix === '' || suffix.includes('*')) return false;
  const dot = h.indexOf('.');
  // one label, non-empty, then exactly the suffix
  return dot > 0 && h.slice(dot + 1) === suffix;
}

/** true when any of the policy's `mx:` patterns covers the host */
export function policyAllowsMx(patterns: readonly string[], host: string): boolean {
  return patterns.some((p) => mxMatches(p, host));
}
