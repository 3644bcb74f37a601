import { getDomain } from 'tldts';
import type { Clock } from '../core/clock.js';
import { dnsErrorCode, DNS_NO_DATA, DNS_NOT_FOUND, type DnsResolver } from '../core/resolver.js';
import { formatAddress, rewrittenFrom } from './dmarc-headers.js';

export { rewriteFromHeader } from './dmarc-headers.js';

/**
 * The DMARC guard (DESIGN.md): mail From a domain that publishes p=reject or p=quarantine and
 * that Ferry cannot sign for will fail DMARC at the receiver. Say so at end of DATA (reject), or
 * rewrite From to an address Ferry can sign for and keep the original in Reply-To (rewrite).
 * A DMARC lookup that fails (timeout, SERVFAIL) never blocks mail: accept and log.
 */
export type DmarcMode = 'reject' | 'rewrite' | 'off';

export interface DmarcLogger {
  warn(obj: object, msg: string): void;
}

export interface DmarcGuardOptions {
  resolver: DnsResolver;
  clock: Clock;
  mode: DmarcMode;
  /** true when Ferry holds a DKIM key for exactly this domain */
  hasKeyFor(domain: string): boolean | Promise<boolean>;
  rewrite: { address: string; brand: string };
  logger: DmarcLogger;
  /**
   * The longest a looked-up policy is reused; within it, each policy is cached for its record's
   * TTL when the resolver reports one (resolveTxtWithTtl), else for this long. Default 1 hour.
   */
  cacheTtlMs?: number;
  /** Bound on cached domains (oldest dropped first). Default 10,000. */
  cacheMaxEntries?: number;
}

export type DmarcVerdict =
  | { action: 'accept' }
  | { action: 'reject'; code: 550; text: string }
  | { action: 'rewrite'; from: string; replyTo: string };

export interface DmarcGuard {
  check(fromHeaderAddress: string, fromDisplayName?: string | null): Promise<DmarcVerdict>;
}

/** What matters of a DMARC record for the guard. */
export interface DmarcPolicy {
  /** the policy that applies to the From domain (sp= for a subdomain, when given) */
  p: 'none' | 'quarantine' | 'reject';
  /** where the record was found */
  recordDomain: string;
  /** adkim=s: only a key for the exact From domain aligns */
  strictDkim: boolean;
}


export function organizationalDomain(domain: string): string {
  // RFC 7489 §3.2: the public suffix plus one label, from the Public Suffix List (ICANN section).
  return getDomain(domain, { allowPrivateDomains: false }) ?? domain;
}

const POLICIES = new Set(['none', 'quarantine', 'reject']);

/** Parses a DMARC record for p/sp/adkim; null when it is not a usable DMARC record. */
export function parseDmarc(record: string): { p: DmarcPolicy['p']; sp: DmarcPolicy['p'] | null; strictDkim: boolean } | null {
  if (!/^v=DMARC1\s*(;|$)/i.test(record.trim())) return null;
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().toLowerCase());
  }
  const p = tags.get('p');
  if (!p || !POLICIES.has(p)) return null;
  const sp = tags.get('sp');
  return { p: p as DmarcPolicy['p'], sp: sp && POLICIES.has(sp) ? (sp as DmarcPolicy['p']) : null, strictDkim: tags.get('adkim') === 's' };
}

class LookupFailed extends Error {}

export function createDmarcGuard(options: DmarcGuardOptions): DmarcGuard {
  const ttl = options.cacheTtlMs ?? 60 * 60_000;
  const maxEntries = options.cacheMaxEntries ?? 10_000;
  const cache = new Map<string, { policy: DmarcPolicy | null; expiresAt: number }>();

  /**
   * The DMARC records at one name: [] when there is none; throws LookupFailed when DNS could not
   * answer. Notes the answer's TTL (positive, or the SOA minimum of a negative answer) in `ttls`.
   */
  async function recordsAt(name: string, ttls: number[]): Promise<string[]> {
    try {
      if (options.resolver.resolveTxtWithTtl) {
        try {
          const res = await options.resolver.resolveTxtWithTtl(name);
          ttls.push(res.ttlSeconds * 1000);
          return res.records;
        } catch (err) {
          // A truncated UDP answer: node's resolver retries over TCP (without a TTL).
          if (dnsErrorCode(err) !== 'ETRUNCATED') throw err;
        }
      }
      return await options.resolver.resolveTxt(name);
    } catch (err) {
      const code = dnsErrorCode(err);
      if (code === DNS_NOT_FOUND || code === DNS_NO_DATA) {
        const negative = (err as { ttlSeconds?: number }).ttlSeconds;
        if (negative !== undefined) ttls.push(negative * 1000);
        return [];
      }
      throw new LookupFailed(code ?? String(err), { cause: err });
    }
  }

  /** RFC 7489 §6.6.3: the From domain's record, else the organizational domain's (its sp=). */
  async function lookup(domain: string, ttls: number[]): Promise<DmarcPolicy | null> {
    const own = (await recordsAt(`_dmarc.${domain}`, ttls)).map(parseDmarc).filter((r) => r !== null);
    // several DMARC records: receivers apply none of them (RFC 7489 §6.6.3)
    if (own.length === 1) return { p: own[0]!.p, recordDomain: domain, strictDkim: own[0]!.strictDkim };
    if (own.length > 1) return null;
    const org = organizationalDomain(domain);
    if (org === domain) return null;
    const parent = (await recordsAt(`_dmarc.${org}`, ttls)).map(parseDmarc).filter((r) => r !== null);
    if (parent.length !== 1) return null;
    return { p: parent[0]!.sp ?? parent[0]!.p, recordDomain: org, strictDkim: parent[0]!.strictDkim };
  }

  async function policyFor(domain: string): Promise<DmarcPolicy | null> {
    const now = options.clock.now();
    const hit = cache.get(domain);
    if (hit && hit.expiresAt > now) return hit.policy;
    const ttls: number[] = [];
    const policy = await lookup(domain, ttls); // a LookupFailed is not cached: the next message asks again
    // Cached per the records' TTL (the shortest of the answers used), never longer than the
    // configured bound; without a TTL (a test double, a TCP fallback), for the bound.
    const lifetime = Math.min(ttl, ...ttls);
    cache.delete(domain);
    if (lifetime > 0) cache.set(domain, { policy, expiresAt: now + lifetime });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return policy;
  }

  /** Ferry's signature aligns with the From domain: same domain, or (relaxed) a parent's key. */
  async function canSign(domain: string, strict: boolean): Promise<boolean> {
    if (await options.hasKeyFor(domain)) return true;
    if (strict) return false;
    const labels = domain.split('.');
    for (let i = 1; i < labels.length - 1; i++) if (await options.hasKeyFor(labels.slice(i).join('.'))) return true;
    return false;
  }

  return {
    async check(fromHeaderAddress, fromDisplayName) {
      if (options.mode === 'off') return { action: 'accept' };
      const at = fromHeaderAddress.lastIndexOf('@');
      const domain = fromHeaderAddress.slice(at + 1).toLowerCase().replace(/\.$/, '');
      if (at < 0 || !domain) return { action: 'accept' };
      if (await options.hasKeyFor(domain)) return { action: 'accept' }; // common case: no DNS at all
      let policy: DmarcPolicy | null;
      try {
        policy = await policyFor(domain);
      } catch (err) {
        options.logger.warn({ domain, err: err instanceof Error ? err.message : String(err) }, 'DMARC lookup failed; accepting the message');
        return { action: 'accept' };
      }
      if (!policy || policy.p === 'none' || (await canSign(domain, policy.strictDkim))) return { action: 'accept' };
      if (options.mode === 'reject') {
        return {
          action: 'reject',
          code: 550,
          text:
            `5.7.1 ${domain} publishes a DMARC policy (p=${policy.p}) by which its owner forbids other servers ` +
            `from sending mail as its users, and this relay cannot sign for ${domain}. ` +
            `Send from an address at a domain this relay has DKIM keys for`,
        };
      }
      return {
        action: 'rewrite',
        from: rewrittenFrom(fromDisplayName, fromHeaderAddress, options.rewrite.brand, options.rewrite.address),
        replyTo: formatAddress(fromDisplayName, fromHeaderAddress),
      };
    },
  };
}
