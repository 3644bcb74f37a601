import t from 'tap';
import { ManualClock } from '../../../src/core/clock.js';
import { createDnsResolver } from '../../../src/core/resolver.js';
import { createMtaSts, type CachedStsPolicy, type StsPolicyCache } from '../../../src/deliver/tls-policy/mta-sts.js';
import type { StsFetchResult } from '../../../src/deliver/tls-policy/sts-fetch.js';
import { startDnsServer, type Zone } from '../../helpers/dns-server.js';

/**
 * The policy cache's rules over time (RFC 8461 §5), with a real DNS server for the TXT record,
 * a controlled clock, and a policy source the test scripts (the HTTPS fetch itself is covered
 * end to end in test/e2e/tls-mta-sts.test.ts).
 */

function memoryCache(): StsPolicyCache & { rows: Map<string, CachedStsPolicy> } {
  const rows = new Map<string, CachedStsPolicy>();
  return { rows, get: async (d) => rows.get(d) ?? null, put: async (p) => void rows.set(p.domain, p), delete: async (d) => void rows.delete(d) };
}

const policy = (mode: string, maxAge: number): string => `version: STSv1\nmode: ${mode}\nmx: mx.example.test\nmax_age: ${maxAge}\n`;

t.test('MTA-STS policy cache', async (t) => {
  const zone: Zone = { '_mta-sts.example.test': { TXT: ['v=STSv1; id=one'] } };
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());
  const clock = new ManualClock();
  const cache = memoryCache();
  let served: StsFetchResult = { ok: true, text: policy('enforce', 3600) };
  let fetches = 0;
  const sts = createMtaSts({
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
    cache,
    clock,
    fetch: async () => {
      fetches++;
      return served;
    },
  });

  const first = await sts.policyFor('Example.Test');
  t.match(first, { source: 'fetched', policy: { domain: 'example.test', policyId: 'one', mode: 'enforce', expiresAt: clock.now() + 3600_000 } });
  t.match(await sts.policyFor('example.test'), { source: 'cache' }, 'same id: from the cache');
  t.equal(fetches, 1);

  // the TXT record disappears while the policy is valid: kept (downgrade refused)
  dns.setZone({});
  t.match(await sts.policyFor('example.test'), { source: 'cache', downgradeRefused: true, policy: { mode: 'enforce' } });
  // the policy host fails while the TXT id is new: the cached policy still applies
  dns.setZone({ '_mta-sts.example.test': { TXT: ['v=STSv1; id=two'] } });
  served = { ok: false, error: 'HTTP 500' };
  t.match(await sts.policyFor('example.test'), { source: 'cache', policy: { policyId: 'one' }, problem: { result: 'sts-policy-fetch-error' } });
  // an invalid new policy does not replace a valid one either
  served = { ok: true, text: 'version: STSv1\nmode: enforce\nmax_age: 10\n' };
  t.match(await sts.policyFor('example.test'), { source: 'cache', policy: { policyId: 'one' }, problem: { result: 'sts-policy-invalid' } });
  // a good new policy does
  served = { ok: true, text: policy('testing', 60) };
  t.match(await sts.policyFor('example.test'), { source: 'fetched', policy: { policyId: 'two', mode: 'testing' } });

  // max_age runs out and the TXT record is gone: no policy any more, the row is removed
  clock.advance(61_000);
  dns.setZone({});
  t.match(await sts.policyFor('example.test'), { source: 'none', policy: null, problem: null });
  t.equal(cache.rows.size, 0);

  // no cache and the fetch fails: fail open, with the problem named
  dns.setZone({ '_mta-sts.example.test': { TXT: ['v=STSv1; id=three'] } });
  served = { ok: false, error: 'connection refused' };
  t.match(await sts.policyFor('example.test'), { source: 'none', policy: null, problem: { result: 'sts-policy-fetch-error', detail: 'connection refused' } });

  // a refresh fetches again even when the id is unchanged
  served = { ok: true, text: policy('enforce', 3600) };
  await sts.policyFor('example.test');
  const before = fetches;
  t.match(await sts.policyFor('example.test', { refresh: true }), { source: 'fetched' });
  t.equal(fetches, before + 1);
});
