import t from 'tap';
import { registerDoctorCommand } from '../../src/admin/doctor.js';
import { createDnsResolver } from '../../src/core/resolver.js';
import { generateDkimKey, txtValue } from '../../src/sign/keys.js';
import { checkPtr, checkSpf, runDoctor } from '../../src/sign/doctor-checks.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';

const rsa = generateDkimKey('rsa', 2048); // 2048: its TXT exceeds 255 bytes, so it is split
const ed = generateDkimKey('ed25519');
const other = generateDkimKey('ed25519');

const zone: Zone = {
  'good.test': {
    TXT: ['v=spf1 ip4:127.0.0.9 include:_spf.provider.test -all', 'google-site-verification=xyz'],
    MX: [{ exchange: 'mx.good.test', priority: 10 }],
  },
  '_spf.provider.test': { TXT: ['v=spf1 ip4:127.0.0.10/31 -all'] },
  'mx.good.test': { A: ['127.0.0.20'] },
  '_dmarc.good.test': { TXT: ['v=DMARC1; p=reject; rua=mailto:d@good.test'] },
  'rsa._domainkey.good.test': { TXT: [txtValue('rsa', rsa.publicKey)] },
  'ed._domainkey.good.test': { TXT: [txtValue('ed25519', ed.publicKey)] },
  '9.0.0.127.in-addr.arpa': { PTR: ['relay.good.test'] },
  'relay.good.test': { A: ['127.0.0.9'] },
  '12.0.0.127.in-addr.arpa': { PTR: ['liar.test'] },
  'liar.test': { A: ['127.0.0.99'] },
  // a/mx mechanisms
  'amx.test': { TXT: ['v=spf1 a mx ~all'], A: ['127.0.0.30'], MX: [{ exchange: 'mx.amx.test', priority: 5 }] },
  'mx.amx.test': { A: ['127.0.0.31'] },
  // everything wrong
  'bad.test': { TXT: ['v=spf1 -all', 'v=spf1 +all'] },
  '_dmarc.bad.test': { rcode: 'SERVFAIL' },
  'sel._domainkey.bad.test': { TXT: [txtValue('ed25519', other.publicKey)] },
  'none.test': { MX: [{ exchange: '.', priority: 0 }] },
  '_dmarc.none.test': { TXT: ['v=DMARC1; p=none'] },
};

t.test('doctor', async (t) => {
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());
  const resolver = createDnsResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1 });

  t.test('SPF: ip4, include, a, mx, all', async (t) => {
    t.equal((await checkSpf(resolver, 'good.test', '127.0.0.9')).status, 'pass', 'ip4');
    t.equal((await checkSpf(resolver, 'good.test', '127.0.0.11')).status, 'pass', 'via include (cidr)');
    const no = await checkSpf(resolver, 'good.test', '127.0.0.50');
    t.equal(no.status, 'fail');
    t.match(no.fix, 'add ip4:127.0.0.50');
    t.equal((await checkSpf(resolver, 'amx.test', '127.0.0.30')).status, 'pass', 'a');
    t.equal((await checkSpf(resolver, 'amx.test', '127.0.0.31')).status, 'pass', 'mx');
    t.equal((await checkSpf(resolver, 'amx.test', '127.0.0.32')).status, 'fail', '~all is not an authorization');
    const two = await checkSpf(resolver, 'bad.test', '127.0.0.9');
    t.equal(two.status, 'fail');
    t.match(two.detail, '2 SPF records');
    const none = await checkSpf(resolver, 'none.test', '127.0.0.9');
    t.match(none, { status: 'fail', fix: /v=spf1 ip4:127\.0\.0\.9 mx ~all/ });
    t.equal((await checkSpf(resolver, 'good.test')).status, 'warn', 'no IP: cannot say');
  });

  t.test('FCrDNS', async (t) => {
    t.match(await checkPtr(resolver, '127.0.0.9'), { status: 'pass', detail: '127.0.0.9 → relay.good.test → 127.0.0.9' });
    t.match(await checkPtr(resolver, '127.0.0.12'), { status: 'fail', detail: /does not resolve back/ });
    t.match(await checkPtr(resolver, '127.0.0.13'), { status: 'fail', detail: 'no PTR for 127.0.0.13' });
  });

  t.test('a healthy domain passes everything (CLI, text)', async (t) => {
    const cli = makeCli({ dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 } });
    t.teardown(() => cli.close());
    const repo = createDkimKeysRepo(cli.ctx.db());
    repo.add({ domain: 'good.test', selector: 'rsa', algorithm: 'rsa', keyFile: '/x', publicKey: rsa.publicKey, createdAt: 0 });
    repo.add({ domain: 'good.test', selector: 'ed', algorithm: 'ed25519', keyFile: '/y', publicKey: ed.publicKey, createdAt: 0 });
    const program = makeProgram();
    registerDoctorCommand(program, cli.ctx);
    await program.parseAsync(['doctor', 'Good.Test', '--ip', '127.0.0.9'], { from: 'user' });
    const lines = cli.out().trim().split('\n');
    t.equal(lines.length, 6, lines.join('\n'));
    for (const l of lines) t.match(l, /^PASS /);
    t.match(cli.out(), 'rsa._domainkey.good.test matches the rsa key');
    t.match(cli.out(), 'p=reject');
  });

  t.test('a broken domain: every failure says how to fix it, exit code via FerryError', async (t) => {
    const cli = makeCli({ dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 } });
    t.teardown(() => cli.close());
    createDkimKeysRepo(cli.ctx.db()).add({ domain: 'bad.test', selector: 'sel', algorithm: 'ed25519', keyFile: '/x', publicKey: ed.publicKey, createdAt: 0 });
    const program = makeProgram();
    registerDoctorCommand(program, cli.ctx);
    await t.rejects(program.parseAsync(['doctor', 'bad.test', '--ip', '127.0.0.12', '--json'], { from: 'user' }), {
      code: 'FERRY_ERR_DNS',
      message: /5 of 5 checks failed for bad\.test/,
    });
    const report = JSON.parse(cli.out());
    t.equal(report.ok, false);
    t.same(report.checks.map((c: { check: string; status: string }) => `${c.check}:${c.status}`), ['spf:fail', 'dkim:fail', 'dmarc:fail', 'mx:fail', 'ptr:fail']);
    for (const c of report.checks) t.ok(c.fix, `${c.check} has a fix`);
    const dkim = report.checks[1];
    t.match(dkim.detail, 'publishes a different key');
    t.match(dkim.fix, `publish TXT at sel._domainkey.bad.test: "v=DKIM1; k=ed25519; p=${ed.publicKey}"`);
    t.match(report.checks[2].detail, 'ESERVFAIL');
  });

  t.test('warnings: no IP, null MX, p=none, no keys', async (t) => {
    const results = await runDoctor(resolver, { domain: 'none.test', keys: [] });
    t.same(results.map((r) => `${r.check}:${r.status}`), ['spf:fail', 'dkim:fail', 'dmarc:warn', 'mx:warn', 'ptr:warn']);
    t.match(results[1]!.fix, 'ferry dkim keygen none.test');
  });

  t.test('a bad --ip is a usage error', async (t) => {
    const cli = makeCli();
    t.teardown(() => cli.close());
    const program = makeProgram();
    registerDoctorCommand(program, cli.ctx);
    await t.rejects(program.parseAsync(['doctor', 'good.test', '--ip', 'nope'], { from: 'user' }), { code: 'FERRY_ERR_USAGE' });
  });
});
