import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createDnsResolver } from '../../src/core/resolver.js';
import { createDmarcGuard, organizationalDomain, parseDmarc, type DmarcMode } from '../../src/policy/dmarc-guard.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';

const zone: Zone = {
  '_dmarc.strict.test': { TXT: ['v=DMARC1; p=reject; rua=mailto:x@strict.test'] },
  '_dmarc.quar.test': { TXT: ['v=DMARC1;p=quarantine'] },
  '_dmarc.lax.test': { TXT: ['v=DMARC1; p=none'] },
  '_dmarc.parent.test': { TXT: ['v=DMARC1; p=none; sp=reject'] },
  '_dmarc.example.co.uk': { TXT: ['v=DMARC1; p=reject'] },
  '_dmarc.ours.test': { TXT: ['v=DMARC1; p=reject'] },
  '_dmarc.strictalign.test': { TXT: ['v=DMARC1; p=reject; adkim=s'] },
  '_dmarc.twice.test': { TXT: ['v=DMARC1; p=reject', 'v=DMARC1; p=none'] },
  '_dmarc.broken.test': { rcode: 'SERVFAIL' },
  '_dmarc.slow.test': { noAnswer: true },
  '_dmarc.shortttl.test': { TXT: ['v=DMARC1; p=reject'], ttl: 20 },
};

t.test('pure parts', async (t) => {
  t.same(parseDmarc('v=DMARC1; p=Reject; sp=none; adkim=s'), { p: 'reject', sp: 'none', strictDkim: true });
  t.equal(parseDmarc('v=spf1 -all'), null);
  t.equal(parseDmarc('v=DMARC1; rua=mailto:x@y'), null, 'no p=: not usable');
  t.equal(organizationalDomain('a.b.example.com'), 'example.com');
  t.equal(organizationalDomain('mail.example.co.uk'), 'example.co.uk');
  t.equal(organizationalDomain('example.com'), 'example.com');
});

t.test('DMARC guard against a loopback DNS server', async (t) => {
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());
  const resolver = createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const clock = new ManualClock();
  const warnings: object[] = [];
  const keyed = new Set(['ours.test', 'parent.test', 'strictalign.test']);
  const guard = (mode: DmarcMode, cacheTtlMs?: number) =>
    createDmarcGuard({
      resolver,
      clock,
      mode,
      hasKeyFor: (d) => keyed.has(d),
      rewrite: { address: 'noreply@ours.test', brand: 'Ferry Mail' },
      logger: { warn: (obj) => warnings.push(obj) },
      ...(cacheTtlMs ? { cacheTtlMs } : {}),
    });

  t.test('reject mode', async (t) => {
    const g = guard('reject');
    const v = await g.check('alice@strict.test', 'Alice');
    t.match(v, { action: 'reject', code: 550 });
    if (v.action === 'reject') {
      t.match(v.text, /^5\.7\.1 strict\.test publishes a DMARC policy \(p=reject\)/);
      t.match(v.text, 'forbids other servers');
      t.match(v.text, 'domain this relay has DKIM keys for');
    }
    t.match(await g.check('bob@QUAR.test'), { action: 'reject' }, 'quarantine counts too');
    t.same(await g.check('c@lax.test'), { action: 'accept' }, 'p=none');
    t.same(await g.check('c@nodmarc.test'), { action: 'accept' }, 'no record');
    t.same(await g.check('c@ours.test'), { action: 'accept' }, 'we have a key');
    t.same(await g.check('c@twice.test'), { action: 'accept' }, 'two records: none applies');
  });

  t.test('organizational domain fallback, sp=, and alignment through a parent key', async (t) => {
    const g = guard('reject');
    t.match(await g.check('x@mail.example.co.uk'), { action: 'reject' }, 'found at example.co.uk');
    // parent.test: p=none, sp=reject — but we hold parent.test's key, which aligns (relaxed)
    t.same(await g.check('x@news.parent.test'), { action: 'accept' });
    // adkim=s: a parent key does not align
    t.match(await g.check('x@sub.strictalign.test'), { action: 'reject' });
    keyed.delete('parent.test');
    t.match(await guard('reject').check('x@news.parent.test'), { action: 'reject' }, 'sp=reject applies to subdomains');
    t.same(await guard('reject').check('x@parent.test'), { action: 'accept' }, 'p=none for the domain itself');
    keyed.add('parent.test');
  });

  t.test('rewrite mode', async (t) => {
    const g = guard('rewrite');
    t.same(await g.check('alice@strict.test', 'Alice "Al" Smith'), {
      action: 'rewrite',
      from: '"Alice \\"Al\\" Smith via Ferry Mail" <noreply@ours.test>',
      replyTo: '"Alice \\"Al\\" Smith" <alice@strict.test>',
    });
    t.same(await g.check('alice@strict.test'), {
      action: 'rewrite',
      from: '"alice@strict.test via Ferry Mail" <noreply@ours.test>',
      replyTo: 'alice@strict.test',
    });
    const v = await g.check('j@strict.test', 'Jürgen');
    t.match(v, { action: 'rewrite', from: /^=\?UTF-8\?B\?[^ ]+\?= <noreply@ours\.test>$/ });
    if (v.action === 'rewrite') {
      const b64 = /B\?([^?]+)\?=/.exec(v.from)![1]!;
      t.equal(Buffer.from(b64, 'base64').toString('utf8'), 'Jürgen via Ferry Mail');
    }
  });

  t.test('off mode never looks', async (t) => {
    const before = dns.queries.length;
    t.same(await guard('off').check('alice@strict.test'), { action: 'accept' });
    t.equal(dns.queries.length, before);
  });

  t.test('failed lookups accept and log; they are not cached', async (t) => {
    const g = guard('reject');
    warnings.length = 0;
    t.same(await g.check('a@broken.test'), { action: 'accept' });
    t.same(await g.check('a@slow.test'), { action: 'accept' }, 'timeout');
    t.equal(warnings.length, 2);
    t.match(warnings[0], { domain: 'broken.test', err: 'ESERVFAIL' });
    dns.setZone({ ...zone, '_dmarc.broken.test': { TXT: ['v=DMARC1; p=reject'] } });
    t.match(await g.check('a@broken.test'), { action: 'reject' }, 'asked again after the failure');
    dns.setZone(zone);
  });

  t.test('results are cached for the configured time', async (t) => {
    const g = guard('reject', 60_000);
    const count = () => dns.queries.filter((q) => q.name === '_dmarc.quar.test').length;
    const start = count();
    await g.check('a@quar.test');
    await g.check('b@quar.test');
    t.equal(count() - start, 1, 'one lookup for two messages');
    dns.setZone({ ...zone, '_dmarc.quar.test': { TXT: ['v=DMARC1; p=none'] } });
    t.match(await g.check('c@quar.test'), { action: 'reject' }, 'still the cached policy');
    clock.advance(60_001);
    t.same(await g.check('c@quar.test'), { action: 'accept' }, 'expired: looked up again');
    t.equal(count() - start, 2);
    dns.setZone(zone);
  });

  t.test("results are cached for the record's TTL, bounded by the configured time", async (t) => {
    const g = guard('reject', 3_600_000);
    const count = () => dns.queries.filter((q) => q.name === '_dmarc.shortttl.test').length;
    const start = count();
    t.match(await g.check('a@shortttl.test'), { action: 'reject' });
    clock.advance(15_000);
    await g.check('b@shortttl.test');
    t.equal(count() - start, 1, 'within the 20 s TTL: cached');
    clock.advance(6_000);
    await g.check('c@shortttl.test');
    t.equal(count() - start, 2, 'past the TTL (though well within cacheTtlMs): looked up again');
  });
});
