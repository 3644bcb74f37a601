import type { Clock } from '../../core/clock.js';
import type { DnsResolver } from '../../core/resolver.js';
import { createDaneLookup } from './dane.js';
import { createMtaSts, type StsLogger, type StsPolicyCache } from './mta-sts.js';
import { createTlsPolicyEngine, type TlsPolicyEngine } from './session-policy.js';
import { createStsFetcher } from './sts-fetch.js';

/** The configuration slices outbound TLS policy reads (outboundTls, dns.dnssec, delivery.allowPrivateMx). */
export interface OutboundTlsSettings {
  mtaSts: { enabled: boolean; fetchTimeoutMs: number };
  daneTimeoutMs: number;
  dnssec: { server: string } | null;
  allowPrivateMx: boolean;
}

export interface OutboundTlsDeps {
  resolver: DnsResolver;
  cache: StsPolicyCache;
  clock: Clock;
  logger?: StsLogger;
}

/** DANE and MTA-STS for the deliverer, built from configuration (the composition root calls this). */
export function createOutboundTlsPolicy(s: OutboundTlsSettings, deps: OutboundTlsDeps): TlsPolicyEngine {
  const mtaSts = s.mtaSts.enabled
    ? createMtaSts({
        resolver: deps.resolver,
        cache: deps.cache,
        fetch: createStsFetcher({ resolver: deps.resolver, timeoutMs: s.mtaSts.fetchTimeoutMs, clock: deps.clock, allowPrivate: s.allowPrivateMx }),
        clock: deps.clock,
        ...(deps.logger ? { logger: deps.logger } : {}),
      })
    : null;
  const dane = s.dnssec ? createDaneLookup({ server: s.dnssec.server, timeoutMs: s.daneTimeoutMs }) : null;
  return createTlsPolicyEngine({ mtaSts, dane, now: () => deps.clock.now() });
}
