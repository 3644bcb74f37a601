import type { TlsPolicyApplied, TlsPolicyDescription, TlsResultType } from '../../core/tls.js';
import type { Hop, HopTry, RouteResult, TlsLevel } from '../types.js';
import type { DaneLookup } from './dane.js';
import type { MtaSts, StsDecision } from './mta-sts.js';
import { policyAllowsMx } from './mx-match.js';

/**
 * Which TLS each MX of a recipient domain must give, from the domain's DANE and MTA-STS
 * policies (RFC 7672, RFC 8461) on top of the route's own level. DANE wins where a host has
 * usable TLSA records (RFC 8461 §2); MTA-STS covers the rest. Static routes (smarthosts) are
 * the operator's own choice and get neither: MTA-STS names the recipient's MX hosts, and a
 * smarthost is not one of them.
 */
export interface PlannedHop {
  hop: Hop;
  description: TlsPolicyDescription;
  /** sts-testing: what enforce would have refused (reported, not enforced) */
  reportOnly: { result: TlsResultType; detail: string } | null;
}

export interface RefusedHop {
  tr: HopTry;
  description: TlsPolicyDescription;
}

export interface TlsPlan {
  hops: PlannedHop[];
  /** hosts policy forbids (MX not in an enforce policy) or cannot judge (DANE lookup failed) */
  refused: RefusedHop[];
  /** an MTA-STS problem met while finding the policy (fetch error, invalid policy): failing open */
  stsProblem: { result: TlsResultType; detail: string } | null;
  /** an enforce policy applies: before giving up, fetch it again (RFC 8461 §5.1) */
  stsEnforced: boolean;
  /** the policy came from the network just now (a refresh that found nothing new changes nothing) */
  stsFetched: boolean;
  /** the MTA-STS policy text applied, to tell whether a refresh changed anything */
  stsText: string | null;
}

export interface TlsPolicyEngine {
  /**
   * ignoreRecipientPolicy: plan as if the recipient domain published no MTA-STS or DANE policy
   * (RFC 8689 §5 `TLS-Required: No`; RFC 8460 §5.3 for TLS reports themselves). The operator's
   * own level for the route or domain still applies.
   */
  plan(route: Extract<RouteResult, { ok: true }>, opts?: { refresh?: boolean; ignoreRecipientPolicy?: boolean }): Promise<TlsPlan>;
}

export interface TlsPolicyDeps {
  mtaSts: MtaSts | null;
  dane: DaneLookup | null;
  now: () => number;
}

const ORDER: TlsLevel[] = ['may', 'encrypt', 'verify', 'dane'];
const stronger = (a: TlsLevel, b: TlsLevel): TlsLevel => (ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b);

export const NO_POLICY: TlsPolicyDescription = { type: 'no-policy-found', strings: [], mxHosts: [] };
/** An MTA-STS policy the domain announces but that could not be fetched or parsed (no cached one). */
export const STS_UNAVAILABLE: TlsPolicyDescription = { type: 'sts', strings: [], mxHosts: [] };

function stsDescription(d: StsDecision): TlsPolicyDescription {
  const p = d.policy!;
  return { type: 'sts', strings: p.text.split(/\r?\n/).filter((l) => l.trim() !== ''), mxHosts: [...p.mx] };
}

export function levelOf(hop: Hop): TlsLevel {
  return hop.tls.level ?? (hop.tls.required ? 'verify' : 'may');
}

export function createTlsPolicyEngine(deps: TlsPolicyDeps): TlsPolicyEngine {
  const refusedTry = (hop: Hop, result: HopTry['result'], message: string, policy: TlsPolicyApplied, rfc: TlsResultType): HopTry => ({
    host: hop.host,
    ip: null,
    port: hop.port,
    preference: hop.preference,
    startedAt: deps.now(),
    durationMs: 0,
    result,
    error: { kind: 'tls', message },
    tls: { policy, result: rfc, verified: false, protocol: null, cipher: null, detail: message },
  });

  const plan: TlsPolicyEngine['plan'] = async (route, opts = {}) => {
    const base = (hop: Hop): PlannedHop => ({ hop: { ...hop, tls: { ...hop.tls, level: levelOf(hop), policy: 'none' } }, description: NO_POLICY, reportOnly: null });
    if (route.source === 'static' || opts.ignoreRecipientPolicy) return { hops: route.hops.map(base), refused: [], stsProblem: null, stsEnforced: false, stsFetched: false, stsText: null };

    const [sts, daneDomain] = await Promise.all([
      deps.mtaSts ? deps.mtaSts.policyFor(route.domain, opts) : Promise.resolve(null),
      deps.dane ? deps.dane.mxSecure(route.domain) : Promise.resolve(null),
    ]);
    const out: TlsPlan = {
      hops: [],
      refused: [],
      stsProblem: sts?.problem ?? null,
      stsEnforced: sts?.policy?.mode === 'enforce',
      stsFetched: sts?.source === 'fetched',
      stsText: sts?.policy?.text ?? null,
    };

    for (const hop of route.hops) {
      if (deps.dane && daneDomain) {
        if ('failed' in daneDomain) {
          out.refused.push({ tr: refusedTry(hop, 'tls_failed', `DANE: cannot tell whether ${route.domain} is signed: ${daneDomain.reason}`, 'dane', 'dnssec-invalid'), description: NO_POLICY });
          continue;
        }
        if (daneDomain.secure) {
          const t = await deps.dane.tlsaFor(hop.host, hop.port);
          if (t.kind === 'failed') {
            out.refused.push({ tr: refusedTry(hop, 'tls_failed', `DANE: TLSA lookup for ${hop.host} failed: ${t.reason}`, 'dane', 'dnssec-invalid'), description: NO_POLICY });
            continue;
          }
          if (t.kind === 'dane' || t.kind === 'unusable') {
            const level: TlsLevel = t.kind === 'dane' ? 'dane' : stronger(levelOf(hop), 'encrypt');
            out.hops.push({
              hop: { ...hop, tls: { ...hop.tls, required: true, level, policy: 'dane', ...(t.kind === 'dane' ? { tlsa: t.records } : {}) } },
              description: { type: 'tlsa', strings: t.strings, mxHosts: [] },
              reportOnly: null,
            });
            continue;
          }
        }
      }
      const policy = sts?.policy;
      if (!policy && sts?.problem) {
        // failing open: the domain publishes MTA-STS (a TXT id) whose policy could not be had;
        // reported as an sts policy with that failure (RFC 8460 §4.3.2.1), not as no policy
        out.hops.push({ ...base(hop), description: STS_UNAVAILABLE });
        continue;
      }
      if (!policy || policy.mode === 'none') {
        out.hops.push(base(hop));
        continue;
      }
      const description = stsDescription(sts);
      const listed = policyAllowsMx(policy.mx, hop.host);
      if (policy.mode === 'enforce') {
        if (!listed) {
          out.refused.push({
            tr: refusedTry(hop, 'policy_refused', `MTA-STS: ${hop.host} is not an MX host of ${route.domain}'s enforce policy (${policy.mx.join(', ')}); not tried`, 'sts-enforce', 'validation-failure'),
            description,
          });
          continue;
        }
        out.hops.push({ hop: { ...hop, tls: { ...hop.tls, required: true, level: stronger(levelOf(hop), 'verify'), policy: 'sts-enforce' } }, description, reportOnly: null });
        continue;
      }
      out.hops.push({
        hop: { ...hop, tls: { ...hop.tls, level: levelOf(hop), policy: 'sts-testing' } },
        description,
        reportOnly: listed ? null : { result: 'validation-failure', detail: `${hop.host} is not an MX host of the policy (testing: delivered anyway)` },
      });
    }
    return out;
  };
  return { plan };
}
