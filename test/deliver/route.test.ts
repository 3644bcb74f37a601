import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { createDnsResolver } from '../../src/core/resolver.js';
import { createRouter, isPrivateAddress, type StaticRoute } from '../../src/deliver/route.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';

const zone: Zone = {
  'ordered.test': {
    MX: [
      { exchange: 'mx20.ordered.test', priority: 20 },
      { exchange: 'mx10.ordered.test', priority: 10 },
      { exchange: 'mx30.ordered.test', priority: 30 },
    ],
  },
  'mx10.ordered.test': { A: ['127.0.0.10'] },
  'mx20.ordered.test': { A: ['127.0.0.20'], AAAA: ['::1'] },
  'mx30.ordered.test': { A: ['127.0.0.30'] },
  'equal.test': {
    MX: [
      { exchange: 'a.equal.test', priority: 10 },
      { exchange: 'b.equal.test', priority: 10 },
      { exchange: 'c.equal.test', priority: 10 },
      { exchange: 'z.equal.test', priority: 50 },
    ],
  },
  'a.equal.test': { A: ['127.0.1.1'] },
  'b.equal.test': { A: ['127.0.1.2'] },
  'c.equal.test': { A: ['127.0.1.3'] },
  'z.equal.test': { A: ['127.0.1.9'] },
  'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] },
  'implicit.test': { A: ['127.0.0.7'] },
  'noaddr.test': { TXT: ['v=spf1 -all'] },
  'servfail.test': { rcode: 'SERVFAIL' },
  'slow.test': { noAnswer: true },
  'private.test': { MX: [{ exchange: 'mx.private.test', priority: 10 }, { exchange: 'mx2.private.test', priority: 20 }] },
  'mx.private.test': { A: ['10.1.2.3', '127.0.0.1'] },
  'mx2.private.test': { A: ['192.168.1.1'] },
  'mixed.test': { MX: [{ exchange: 'mx.mixed.test', priority: 10 }] },
  'mx.mixed.test': { A: ['10.0.0.1', '8.8.8.8'] },
  'literal.test': { MX: [{ exchange: '127.0.0.5', priority: 10 }] },
  'badhost.test': { MX: [{ exchange: 'gone.badhost.test', priority: 10 }, { exchange: 'ok.badhost.test', priority: 20 }] },
  'ok.badhost.test': { A: ['127.0.0.8'] },
  'smarthost.test': { A: ['127.0.0.99'] },
};

t.test('router', async (t) => {
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());
  const resolver = createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const clock = new ManualClock();
  const make = (over: { allowPrivateMx?: boolean; routes?: Record<string, StaticRoute>; seed?: number; requireTlsDomains?: string[] } = {}) =>
    createRouter({
      resolver,
      clock,
      routes: over.routes ?? {},
      allowPrivateMx: over.allowPrivateMx ?? true,
      port: 2525,
      random: seededRandom(over.seed ?? 1),
      requireTlsDomains: over.requireTlsDomains ?? [],
    });

  t.test('MX in preference order, each host resolved (A before AAAA)', async (t) => {
    const r = await make().resolve('Ordered.Test.');
    if (!r.ok) throw t.fail('expected a route');
    t.equal(r.source, 'mx');
    t.same(r.hops.map((h) => [h.host, h.preference, h.port]), [
      ['mx10.ordered.test', 10, 2525],
      ['mx20.ordered.test', 20, 2525],
      ['mx30.ordered.test', 30, 2525],
    ]);
    t.same(r.hops[1]!.addresses, ['127.0.0.20', '::1']);
    t.same(r.hops[0]!.tls, { required: false, implicit: false, level: 'may' });
  });

  t.test('equal preferences are shuffled by the injected random, repeatably', async (t) => {
    const orders = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const r = await make({ seed }).resolve('equal.test');
      if (!r.ok) throw t.fail('expected a route');
      const hosts = r.hops.map((h) => h.host[0]).join('');
      t.equal(hosts[3], 'z', 'the higher preference stays last');
      t.same([...hosts.slice(0, 3)].sort().join(''), 'abc');
      orders.add(hosts);
    }
    t.ok(orders.size > 1, `more than one order over 20 seeds (${[...orders].join(',')})`);
    const a = await make({ seed: 7 }).resolve('equal.test');
    const b = await make({ seed: 7 }).resolve('equal.test');
    t.same(a, b, 'same seed, same order');
  });

  t.test('null MX and NXDOMAIN are permanent', async (t) => {
    const n = await make().resolve('nullmx.test');
    t.match(n, { ok: false, permanent: true, reason: 'null_mx' });
    const x = await make().resolve('missing.test');
    t.match(x, { ok: false, permanent: true, reason: 'nxdomain' });
  });

  t.test('no MX: the domain itself (implicit MX)', async (t) => {
    const r = await make().resolve('implicit.test');
    t.match(r, { ok: true, source: 'implicit', hops: [{ host: 'implicit.test', preference: null, addresses: ['127.0.0.7'] }] });
    const none = await make().resolve('noaddr.test');
    t.match(none, { ok: false, permanent: true, reason: 'no_address' });
  });

  t.test('SERVFAIL and timeouts are temporary', async (t) => {
    t.match(await make().resolve('servfail.test'), { ok: false, permanent: false, reason: 'dns_error' });
    t.match(await make().resolve('slow.test'), { ok: false, permanent: false, reason: 'dns_error' });
  });

  t.test('private addresses refused unless allowed, each refusal recorded', async (t) => {
    const r = await make({ allowPrivateMx: false }).resolve('private.test');
    t.match(r, { ok: false, permanent: false, reason: 'all_private' });
    t.same(
      r.tries.map((x) => [x.host, x.ip, x.result]),
      [
        ['mx.private.test', '10.1.2.3', 'refused_private'],
        ['mx.private.test', '127.0.0.1', 'refused_private'],
        ['mx2.private.test', '192.168.1.1', 'refused_private'],
      ],
    );
    const mixed = await make({ allowPrivateMx: false }).resolve('mixed.test');
    t.match(mixed, { ok: true, hops: [{ addresses: ['8.8.8.8'] }], tries: [{ ip: '10.0.0.1', result: 'refused_private' }] });
    t.match(await make({ allowPrivateMx: true }).resolve('private.test'), { ok: true });
  });

  t.test('isPrivateAddress', async (t) => {
    for (const ip of ['127.0.0.1', '10.0.0.1', '172.16.5.5', '192.168.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1']) {
      t.ok(isPrivateAddress(ip), ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '::ffff:8.8.8.8']) t.notOk(isPrivateAddress(ip), ip);
  });

  t.test('IP-literal MX and an MX host that does not resolve', async (t) => {
    t.match(await make().resolve('literal.test'), { ok: true, hops: [{ host: '127.0.0.5', addresses: ['127.0.0.5'] }] });
    const r = await make().resolve('badhost.test');
    t.match(r, { ok: true, hops: [{ host: 'ok.badhost.test' }], tries: [{ host: 'gone.badhost.test', ip: null, result: 'dns_failed', error: { kind: 'dns' } }] });
  });

  t.test('static routes: exact domain, then *; not subject to the private-address rule', async (t) => {
    const routes: Record<string, StaticRoute> = {
      'ordered.test': { host: '127.0.0.50:2600', auth: { user: 'u', pass: 'p' }, requireTls: true, implicitTls: false },
      '*': { host: 'smarthost.test:587', auth: null, requireTls: false, implicitTls: false },
    };
    const router = make({ routes, allowPrivateMx: false });
    t.match(await router.resolve('ordered.test'), {
      ok: true,
      source: 'static',
      hops: [{ host: '127.0.0.50', port: 2600, addresses: ['127.0.0.50'], tls: { required: true }, auth: { user: 'u', pass: 'p' } }],
    });
    t.match(await router.resolve('anything.test'), { ok: true, source: 'static', hops: [{ host: 'smarthost.test', port: 587, addresses: ['127.0.0.99'] }] });
    const v6 = make({ routes: { 'x.test': { host: '[::1]:2700', auth: null, requireTls: false, implicitTls: true } } });
    t.match(await v6.resolve('x.test'), { ok: true, hops: [{ host: '::1', port: 2700, tls: { implicit: true } }] });
  });

  t.test('requireTlsDomains marks the hops', async (t) => {
    const r = await make({ requireTlsDomains: ['Implicit.test'] }).resolve('implicit.test');
    t.match(r, { ok: true, hops: [{ tls: { required: true, implicit: false } }] });
  });
});
