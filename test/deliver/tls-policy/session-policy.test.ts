import t from 'tap';
import type { DaneForDomain, DaneForHost, DaneLookup } from '../../../src/deliver/tls-policy/dane.js';
import type { MtaSts, StsDecision } from '../../../src/deliver/tls-policy/mta-sts.js';
import { createTlsPolicyEngine } from '../../../src/deliver/tls-policy/session-policy.js';
import type { Hop, RouteResult } from '../../../src/deliver/types.js';

/** How DANE, MTA-STS and the route's level combine per MX (test doubles implement the real interfaces). */

const hop = (host: string, level: 'may' | 'encrypt' | 'verify' = 'may'): Hop => ({
  host,
  port: 25,
  preference: 10,
  addresses: ['192.0.2.1'],
  tls: { required: level !== 'may', implicit: false, level },
  auth: null,
});
const route = (hops: Hop[], source: 'mx' | 'static' = 'mx'): Extract<RouteResult, { ok: true }> => ({ ok: true, domain: 'example.test', source, hops, tries: [] });

function sts(mode: 'enforce' | 'testing' | null, mx: string[] = ['mx1.example.test']): MtaSts & { calls: number } {
  const s = {
    calls: 0,
    async policyFor(): Promise<StsDecision> {
      s.calls++;
      if (!mode) return { policy: null, source: 'none', problem: null, downgradeRefused: false };
      return {
        policy: { domain: 'example.test', policyId: '1', mode, mx, maxAgeSeconds: 60, text: `version: STSv1\nmode: ${mode}\n`, fetchedAt: 0, expiresAt: 1 },
        source: 'cache',
        problem: null,
        downgradeRefused: false,
      };
    },
  };
  return s;
}

function dane(domain: DaneForDomain, hosts: Record<string, DaneForHost>): DaneLookup {
  return { mxSecure: async () => domain, tlsaFor: async (h) => hosts[h] ?? { kind: 'none', reason: 'no TLSA' } };
}

const record = { usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) };

t.test('static routes get neither DANE nor MTA-STS, and no lookups', async (t) => {
  const s = sts('enforce');
  const plan = await createTlsPolicyEngine({ mtaSts: s, dane: null, now: () => 0 }).plan(route([hop('smarthost.test', 'encrypt')], 'static'));
  t.match(plan.hops, [{ hop: { tls: { level: 'encrypt', policy: 'none' } } }]);
  t.equal(s.calls, 0);
});

t.test('enforce: unlisted MX refused, listed raised to verify; the route level never lowered', async (t) => {
  const plan = await createTlsPolicyEngine({ mtaSts: sts('enforce'), dane: null, now: () => 0 }).plan(route([hop('mx0.other.test'), hop('mx1.example.test')]));
  t.match(plan.refused, [{ tr: { host: 'mx0.other.test', result: 'policy_refused', tls: { policy: 'sts-enforce' } } }]);
  t.match(plan.hops, [{ hop: { host: 'mx1.example.test', tls: { required: true, level: 'verify', policy: 'sts-enforce' } }, description: { type: 'sts', mxHosts: ['mx1.example.test'] } }]);
  t.ok(plan.stsEnforced);
});

t.test('testing: every MX tried at its own level, an unlisted one reported', async (t) => {
  const plan = await createTlsPolicyEngine({ mtaSts: sts('testing'), dane: null, now: () => 0 }).plan(route([hop('mx0.other.test'), hop('mx1.example.test')]));
  t.same(plan.refused, []);
  t.match(plan.hops, [
    { hop: { tls: { level: 'may', policy: 'sts-testing' } }, reportOnly: { result: 'validation-failure' } },
    { hop: { tls: { level: 'may', policy: 'sts-testing' } }, reportOnly: null },
  ]);
});

t.test('DANE per host: usable records win over MTA-STS; unusable ones require encryption; none falls back', async (t) => {
  const engine = createTlsPolicyEngine({
    mtaSts: sts('enforce', ['*.example.test']),
    dane: dane({ secure: true }, {
      'mx1.example.test': { kind: 'dane', records: [record], strings: ['3 1 1 01..'] },
      'mx2.example.test': { kind: 'unusable', strings: ['0 0 1 ..'] },
    }),
    now: () => 0,
  });
  const plan = await engine.plan(route([hop('mx1.example.test'), hop('mx2.example.test'), hop('mx3.example.test')]));
  t.match(plan.hops, [
    { hop: { tls: { level: 'dane', policy: 'dane', tlsa: [record] } }, description: { type: 'tlsa' } },
    { hop: { tls: { level: 'encrypt', policy: 'dane' } } },
    { hop: { tls: { level: 'verify', policy: 'sts-enforce' } } },
  ]);
});

t.test('DANE: unsigned MX records mean no DANE; a failed lookup refuses the host (deferred, never downgraded)', async (t) => {
  const tlsa = { 'mx1.example.test': { kind: 'dane' as const, records: [record], strings: [] } };
  const unsigned = await createTlsPolicyEngine({ mtaSts: null, dane: dane({ secure: false, reason: 'unsigned' }, tlsa), now: () => 0 }).plan(route([hop('mx1.example.test')]));
  t.match(unsigned.hops, [{ hop: { tls: { level: 'may', policy: 'none' } } }]);
  const bogus = await createTlsPolicyEngine({ mtaSts: null, dane: dane({ failed: true, reason: 'SERVFAIL' }, tlsa), now: () => 0 }).plan(route([hop('mx1.example.test')]));
  t.same(bogus.hops, []);
  t.match(bogus.refused, [{ tr: { result: 'tls_failed', tls: { policy: 'dane', result: 'dnssec-invalid' } } }]);
  const hostFailed = await createTlsPolicyEngine({ mtaSts: null, dane: dane({ secure: true }, { 'mx1.example.test': { kind: 'failed', reason: 'timeout' } }), now: () => 0 }).plan(route([hop('mx1.example.test')]));
  t.match(hostFailed.refused, [{ tr: { host: 'mx1.example.test', tls: { result: 'dnssec-invalid' } } }]);
});
