import type { Clock } from '../../core/clock.js';
import { DNS_NO_DATA, DNS_NOT_FOUND, dnsErrorCode, type DnsResolver } from '../../core/resolver.js';
import { errorMessage } from '../../core/errors.js';
import { parseStsPolicy, parseStsTxt } from './sts-policy.js';
import type { StsFetcher } from './sts-fetch.js';
import type { MtaStsStore } from '../../core/store.js';
import type { MtaStsPolicyRow } from '../../core/tls-store-types.js';

/**
 * A recipient domain's MTA-STS policy (RFC 8461 §5), with Ferry's own cache in the store. The
 * cache is what makes MTA-STS worth having: an attacker who strips the `_mta-sts` TXT record (or
 * the HTTPS fetch) must not turn enforce into nothing, so an unexpired cached policy is kept
 * whatever DNS says, and replaced only by a newer policy fetched successfully.
 */
export type CachedStsPolicy = MtaStsPolicyRow;

/** The store's policy table, as deliver needs it (main wires Store.mtaSts). */
export type StsPolicyCache = Pick<MtaStsStore, 'get' | 'put' | 'delete'>;

export interface StsLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * What applies to mail for the domain now. `policy` null: no MTA-STS (none published, or failing
 * open); `problem` says why when something was wrong (for reports and logs).
 */
export interface StsDecision {
  policy: CachedStsPolicy | null;
  source: 'none' | 'cache' | 'fetched';
  /** an RFC 8460 failure met on the way (fetch error, invalid policy), null when none */
  problem: { result: 'sts-policy-fetch-error' | 'sts-policy-invalid'; detail: string } | null;
  /** the TXT record was gone or unreadable while a cached policy was still valid: kept (downgrade refused) */
  downgradeRefused: boolean;
}

export interface MtaSts {
  /** `refresh`: fetch the policy again even if the cached one matches the TXT id (RFC 8461 §5.1, before giving up) */
  policyFor(domain: string, opts?: { refresh?: boolean }): Promise<StsDecision>;
}

export interface MtaStsOptions {
  resolver: DnsResolver;
  cache: StsPolicyCache;
  fetch: StsFetcher;
  clock: Clock;
  logger?: StsLogger;
}

type TxtState = { kind: 'id'; id: string } | { kind: 'absent'; detail: string } | { kind: 'unknown'; detail: string };

export function createMtaSts(o: MtaStsOptions): MtaSts {
  const { resolver, cache, clock, logger } = o;

  const readTxt = async (domain: string): Promise<TxtState> => {
    try {
      const parsed = parseStsTxt(await resolver.resolveTxt(`_mta-sts.${domain}`));
      return parsed.ok ? { kind: 'id', id: parsed.id } : { kind: 'absent', detail: parsed.error };
    } catch (err) {
      const code = dnsErrorCode(err);
      if (code === DNS_NOT_FOUND || code === DNS_NO_DATA) return { kind: 'absent', detail: `no _mta-sts.${domain} TXT record` };
      return { kind: 'unknown', detail: `TXT _mta-sts.${domain}: ${code ?? ''} ${errorMessage(err)}`.trim() };
    }
  };

  const fetchAndStore = async (domain: string, id: string): Promise<{ ok: true; policy: CachedStsPolicy } | { ok: false; result: 'sts-policy-fetch-error' | 'sts-policy-invalid'; detail: string }> => {
    const got = await o.fetch(domain);
    if (!got.ok) return { ok: false, result: 'sts-policy-fetch-error', detail: got.error };
    const parsed = parseStsPolicy(got.text);
    if (!parsed.ok) return { ok: false, result: 'sts-policy-invalid', detail: parsed.error };
    const now = clock.now();
    const policy: CachedStsPolicy = {
      domain,
      policyId: id,
      ...parsed.policy,
      text: got.text,
      fetchedAt: now,
      expiresAt: now + parsed.policy.maxAgeSeconds * 1000,
    };
    await cache.put(policy);
    logger?.info({ domain, policyId: id, mode: policy.mode, mx: policy.mx, maxAgeSeconds: policy.maxAgeSeconds }, 'MTA-STS policy fetched');
    return { ok: true, policy };
  };

  const policyFor = async (rawDomain: string, opts: { refresh?: boolean } = {}): Promise<StsDecision> => {
    const domain = rawDomain.toLowerCase();
    const now = clock.now();
    const stored = await cache.get(domain);
    const valid = stored && stored.expiresAt > now ? stored : null;
    const txt = await readTxt(domain);

    if (valid) {
      if (txt.kind !== 'id') {
        logger?.warn({ domain, policyId: valid.policyId, mode: valid.mode, txt: txt.detail }, 'MTA-STS TXT record missing or unreadable: keeping the cached policy until it expires (downgrade refused)');
        return { policy: valid, source: 'cache', problem: null, downgradeRefused: txt.kind === 'absent' };
      }
      if (txt.id === valid.policyId && !opts.refresh) return { policy: valid, source: 'cache', problem: null, downgradeRefused: false };
      const fresh = await fetchAndStore(domain, txt.id);
      if (fresh.ok) return { policy: fresh.policy, source: 'fetched', problem: null, downgradeRefused: false };
      logger?.warn({ domain, policyId: txt.id, error: fresh.detail }, 'MTA-STS: newer policy could not be fetched; the cached one still applies');
      return { policy: valid, source: 'cache', problem: { result: fresh.result, detail: fresh.detail }, downgradeRefused: false };
    }

    if (txt.kind === 'absent') {
      if (stored) await cache.delete(domain);
      return { policy: null, source: 'none', problem: null, downgradeRefused: false };
    }
    if (txt.kind === 'unknown') {
      logger?.warn({ domain, error: txt.detail }, 'MTA-STS: TXT lookup failed and no cached policy: delivering without MTA-STS (fail open)');
      return { policy: null, source: 'none', problem: { result: 'sts-policy-fetch-error', detail: txt.detail }, downgradeRefused: false };
    }
    const fresh = await fetchAndStore(domain, txt.id);
    if (fresh.ok) return { policy: fresh.policy, source: 'fetched', problem: null, downgradeRefused: false };
    logger?.warn({ domain, policyId: txt.id, error: fresh.detail }, 'MTA-STS: policy fetch failed and no cached policy: delivering without MTA-STS (fail open)');
    return { policy: null, source: 'none', problem: { result: fresh.result, detail: fresh.detail }, downgradeRefused: false };
  };

  return { policyFor };
}
