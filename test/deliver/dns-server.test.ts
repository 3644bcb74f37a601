import t from 'tap';
import { createDnsResolver, dnsErrorCode } from '../../src/core/resolver.js';
import { startDnsServer } from '../helpers/dns-server.js';

t.test('test DNS server answers node resolver queries', async (t) => {
  const longTxt = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(600);
  const server = await startDnsServer({
    'example.test': {
      MX: [
        { exchange: 'mx1.example.test', priority: 10 },
        { exchange: 'mx2.example.test', priority: 20 },
      ],
      A: ['127.0.0.2'],
      AAAA: ['::1'],
      TXT: ['v=spf1 -all'],
    },
    'long.example.test': { TXT: [longTxt] },
    'null.test': { MX: [{ exchange: '.', priority: 0 }] },
    'nodata.test': { A: ['127.0.0.3'] },
    'broken.test': { rcode: 'SERVFAIL' },
    'refused.test': { rcode: 'REFUSED' },
    'silent.test': { noAnswer: true },
    '2.0.0.127.in-addr.arpa': { PTR: ['mx.example.test'] },
  });
  t.teardown(() => server.close());
  t.match(server.address, /^127\.0\.0\.1:\d+$/);
  const r = createDnsResolver({ servers: [server.address], timeoutMs: 200, tries: 1 });

  const mx = await r.resolveMx('example.test');
  t.same(
    mx.sort((a, b) => a.priority - b.priority),
    [
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx2.example.test', priority: 20 },
    ],
  );
  t.same(await r.resolve4('example.test'), ['127.0.0.2']);
  t.same(await r.resolve6('example.test'), ['::1']);
  t.same(await r.resolveTxt('example.test'), ['v=spf1 -all']);
  t.same(await r.resolveTxt('long.example.test'), [longTxt], 'long TXT reassembled (split in 255-byte chunks)');
  t.same(await r.reverse('127.0.0.2'), ['mx.example.test']);

  const nullMx = await r.resolveMx('null.test');
  t.equal(nullMx.length, 1);
  t.equal(nullMx[0]!.priority, 0);
  t.equal(nullMx[0]!.exchange, '', 'null MX exchange is the root');

  const code = async (p: Promise<unknown>): Promise<string | undefined> => {
    try {
      await p;
      return 'resolved';
    } catch (err) {
      return dnsErrorCode(err);
    }
  };
  t.equal(await code(r.resolveMx('missing.test')), 'ENOTFOUND', 'absent name → NXDOMAIN');
  t.equal(await code(r.resolveMx('nodata.test')), 'ENODATA', 'name without MX → no data');
  t.equal(await code(r.resolveMx('broken.test')), 'ESERVFAIL');
  t.equal(await code(r.resolveMx('refused.test')), 'EREFUSED');
  t.equal(await code(r.resolveMx('silent.test')), 'ETIMEOUT', 'noAnswer → client timeout');

  t.ok(server.queries.some((q) => q.name === 'example.test' && q.type === 'MX'));
  t.ok(server.queries.some((q) => q.name === 'missing.test'));

  server.setZone({ 'example.test': { A: ['127.0.0.9'] } });
  t.same(await r.resolve4('example.test'), ['127.0.0.9'], 'setZone replaces the zone');
});
