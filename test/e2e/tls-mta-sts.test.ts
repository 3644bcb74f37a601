import t from 'tap';
import nodemailer from 'nodemailer';
import { utcDay } from '../../src/tlsrpt/sink.js';
import { createTlsReportRepo } from '../../src/store/tls-report-repo.js';
import { parseReport, rfc8460Problems } from '../tlsrpt/fixtures.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';
import { queuedId, type StartedRelay } from '../helpers/relay.js';
import { runFerry } from '../helpers/cli.js';
import { sampleMessage, send } from './fixtures/delivery.js';
import { createPki } from './fixtures/tls-pki.js';
import { freePortOn, startChildRelay, startPolicyServer, stsPolicy, labNet } from './fixtures/tls-lab.js';

/**
 * MTA-STS (RFC 8461) through the real relay: `ferry start` in a child process trusting a
 * throwaway CA (NODE_EXTRA_CA_CERTS), a DNS server answering MX and _mta-sts TXT, an HTTPS server
 * on NET.1:443 serving the policies, and four kinds of MX: correct (.10), wrong-name
 * certificate (.11), self-signed (.12), no STARTTLS (.13), and a correct one that also offers
 * REQUIRETLS (.14). Each case is its own recipient domain.
 */

const NET = labNet(1);
const HTTPS = `${NET}.1`;
const GOOD = `${NET}.10`;
const WRONG_NAME = `${NET}.11`;
const SELF_SIGNED = `${NET}.12`;
const NO_TLS = `${NET}.13`;
const GOOD_REQUIRETLS = `${NET}.14`;

const CASES = ['ok', 'wrongname', 'selfsigned', 'nostarttls', 'rogue', 'testing', 'broken', 'routed', 'refresh', 'shared1', 'shared2', 'rtls', 'nortls'];

t.test('MTA-STS through the relay', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.close());
  const ca = pki.ca('Ferry throwaway CA');
  const mxNames = [...CASES.map((c) => `mx.sts-${c}.test`), 'mx2.sts-refresh.test', 'mx.evil.test', 'a.b.sts-rogue.test', 'mx.shared.test'];
  const port = await freePortOn(GOOD);
  const good = await startMx({ host: GOOD, port, cert: pki.issue(ca, mxNames) });
  const wrongName = await startMx({ host: WRONG_NAME, port, cert: pki.issue(ca, ['somewhere-else.test']) });
  const selfSigned = await startMx({ host: SELF_SIGNED, port, cert: pki.selfSigned(mxNames) });
  const noTls = await startMx({ host: NO_TLS, port, tls: false });
  const goodRequireTls = await startMx({ host: GOOD_REQUIRETLS, port, cert: pki.issue(ca, mxNames), requireTls: true });
  const sinks: TestMx[] = [good, wrongName, selfSigned, noTls, goodRequireTls];
  t.teardown(async () => {
    for (const s of sinks) await s.close();
  });
  const web = await startPolicyServer(t, HTTPS, pki.issue(ca, CASES.map((c) => `mta-sts.sts-${c}.test`)));

  const zone: Zone = {};
  const domain = (c: string, mx: [string, string][], txt: string | null = 'v=STSv1; id=2026120601'): void => {
    zone[`sts-${c}.test`] = { MX: mx.map(([host], i) => ({ exchange: host, priority: 10 * (i + 1) })) };
    for (const [host, ip] of mx) zone[host] = { A: [ip] };
    if (txt) zone[`_mta-sts.sts-${c}.test`] = { TXT: [txt] };
    zone[`mta-sts.sts-${c}.test`] = { A: [HTTPS] };
  };
  domain('ok', [['mx.sts-ok.test', GOOD]]);
  domain('wrongname', [['mx.sts-wrongname.test', WRONG_NAME]]);
  domain('selfsigned', [['mx.sts-selfsigned.test', SELF_SIGNED]]);
  domain('nostarttls', [['mx.sts-nostarttls.test', NO_TLS]]);
  // a.b.sts-rogue.test: two labels where the policy's wildcard stands for one (mailauth 4.13 accepts it)
  domain('rogue', [['mx.evil.test', GOOD], ['a.b.sts-rogue.test', GOOD], ['mx.sts-rogue.test', GOOD]]);
  domain('testing', [['mx.sts-testing.test', WRONG_NAME]]);
  domain('broken', [['mx.sts-broken.test', SELF_SIGNED]]);
  domain('routed', [['mx.sts-routed.test', GOOD]]);
  domain('refresh', [['mx.sts-refresh.test', GOOD]]);
  // three recipient domains behind one MX host, each with its own policy (keyed by recipient domain)
  domain('shared1', [['mx.shared.test', GOOD]]);
  domain('shared2', [['mx.shared.test', GOOD]]);
  domain('shared3', [['mx.shared.test', GOOD]], null);
  domain('rtls', [['mx.sts-rtls.test', GOOD_REQUIRETLS]]);
  domain('nortls', [['mx.sts-nortls.test', GOOD]]);
  // sts-testing.test takes TLS-RPT reports by POST at its policy host
  zone['_smtp._tls.sts-testing.test'] = { TXT: ['v=TLSRPTv1; rua=https://mta-sts.sts-testing.test/tlsrpt'] };
  for (const c of ['ok', 'wrongname', 'selfsigned', 'nostarttls', 'routed', 'refresh']) web.set(`sts-${c}.test`, stsPolicy('enforce', [`mx.sts-${c}.test`]));
  // a wildcard covers exactly one label: mx.sts-rogue.test yes, mx.evil.test no
  web.set('sts-rogue.test', stsPolicy('enforce', ['*.sts-rogue.test']));
  web.set('sts-testing.test', stsPolicy('testing', ['mx.sts-testing.test']));
  web.set('sts-shared1.test', stsPolicy('enforce', ['mx.shared.test']));
  web.set('sts-shared2.test', stsPolicy('enforce', ['mx.elsewhere.test']));
  for (const c of ['rtls', 'nortls']) web.set(`sts-${c}.test`, stsPolicy('enforce', [`mx.sts-${c}.test`]));
  // sts-broken.test publishes the TXT record but its policy host answers 404: fail open
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());

  const relay = await startChildRelay(
    t,
    {
      dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
      http: { listen: '127.0.0.1:0' },
      tlsRpt: { enabled: true, organization: 'Ferry E2E', contact: 'postmaster@ferry.test', flushIntervalMs: 200 },
      // idleConnectionMs 0: DNS and policies change between messages here, and each message must
      // meet them on a new session (an idle connection would carry it on the route chosen before)
      delivery: { allowPrivateMx: true, port, connectTimeoutMs: 3000, greetingTimeoutMs: 3000, commandTimeoutMs: 3000, dataTimeoutMs: 3000, idleConnectionMs: 0 },
      // a static route is the operator's choice: MTA-STS does not apply to it
      routes: { 'sts-routed.test': `${WRONG_NAME}:${port}` },
      outboundTls: { mtaSts: { fetchTimeoutMs: 3000 } },
    },
    ca.file,
  );
  const submit = (c: string): Promise<string> => send({ smtpPort: relay.smtpPort } as StartedRelay, { to: [`rcpt@sts-${c}.test`] });
  const got = (sink: TestMx, c: string): number => sink.messages.filter((m) => m.envelope.to.includes(`rcpt@sts-${c}.test`)).length;

  await t.test('enforce, correct MX with a certificate valid for its name: delivered, verified', async (t) => {
    const id = await submit('ok');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    const [a] = relay.attempts(id);
    t.match(a, { mxHost: 'mx.sts-ok.test', tlsPolicy: 'sts-enforce', tlsVerified: true, tlsResult: 'success', tlsProtocol: /^TLSv1/, tlsCipher: /^TLS_|_/ });
    t.equal(got(good, 'ok'), 1);
    t.equal(web.requests('sts-ok.test'), 1, 'the policy was fetched once');
    const shown = await runFerry(['messages', 'show', id, '-c', relay.configFile], { env: { COLUMNS: '250', FERRY_DNS_SERVERS: '' } });
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, /TLSv1\.\d \S+/, 'protocol and cipher');
    t.match(shown.stdout, /policy sts-enforce, verified/);
  });

  await t.test('enforce, wrong-name certificate: deferred, nothing sent', async (t) => {
    const id = await submit('wrongname');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'deferred');
    t.equal(got(wrongName, 'wrongname'), 0);
    const [a] = relay.attempts(id);
    t.match(a!.hops, [{ host: 'mx.sts-wrongname.test', result: 'tls_failed', tls: { policy: 'sts-enforce', result: 'certificate-host-mismatch', verified: false } }]);
  });

  await t.test('enforce, self-signed certificate: deferred, nothing sent', async (t) => {
    const id = await submit('selfsigned');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'deferred');
    t.equal(got(selfSigned, 'selfsigned'), 0);
    t.match(relay.attempts(id)[0]!.hops, [{ result: 'tls_failed', tls: { policy: 'sts-enforce', result: 'certificate-not-trusted' } }]);
  });

  await t.test('TLS-Required: No (RFC 8689 §5): the enforce policy that keeps the host out is set aside for that message only', async (t) => {
    const strict = await submit('selfsigned');
    const raw = sampleMessage('relaxed').replace('Subject: relaxed', 'Subject: relaxed\r\nTLS-Required: No');
    const id = await send({ smtpPort: relay.smtpPort } as StartedRelay, { to: ['rcpt@sts-selfsigned.test'], raw });
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.equal(got(selfSigned, 'selfsigned'), 1, 'only the relaxed message reached the host');
    const last = relay.attempts(id).at(-1)!;
    t.match(last, { tlsPolicy: 'none', tlsVerified: false });
    const [s] = await relay.waitFor(strict, ['delivered', 'deferred', 'bounced']);
    t.equal(s!.status, 'deferred', 'a message without the header still waits for the policy');
  });

  await t.test('enforce, MX offers no STARTTLS: deferred, nothing sent in clear text', async (t) => {
    const id = await submit('nostarttls');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'deferred');
    t.equal(got(noTls, 'nostarttls'), 0);
    t.match(relay.attempts(id)[0]!.hops, [{ result: 'tls_failed', tls: { policy: 'sts-enforce', result: 'starttls-not-supported' } }]);
  });

  await t.test('enforce, an MX not in the policy is never contacted; the listed one takes the mail', async (t) => {
    const before = good.connections;
    const id = await submit('rogue');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    const [a] = relay.attempts(id);
    t.equal(a!.mxHost, 'mx.sts-rogue.test');
    t.match(a!.hops, [
      { host: 'mx.evil.test', ip: null, result: 'policy_refused', tls: { policy: 'sts-enforce', result: 'validation-failure' } },
      { host: 'a.b.sts-rogue.test', ip: null, result: 'policy_refused', tls: { policy: 'sts-enforce', result: 'validation-failure' } },
      { host: 'mx.sts-rogue.test', result: 'connected', tls: { policy: 'sts-enforce', verified: true } },
    ]);
    t.equal(a!.hops!.length, 3);
    t.equal(good.connections - before, 1, 'one connection: to the listed MX only');
  });

  await t.test('testing: delivered as before to a wrong-name certificate, and the failure recorded', async (t) => {
    const id = await submit('testing');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.equal(got(wrongName, 'testing'), 1);
    t.match(relay.attempts(id)[0], { tlsPolicy: 'sts-testing', tlsVerified: false, tlsResult: 'certificate-host-mismatch' });
  });

  await t.test('policy fetch fails and nothing is cached: fails open, logged', async (t) => {
    const id = await submit('broken');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.equal(got(selfSigned, 'broken'), 1);
    t.match(relay.attempts(id)[0], { tlsPolicy: 'none', tlsResult: 'sts-policy-fetch-error' });
    t.ok(relay.logs.some((l) => l.includes('sts-broken.test') && l.includes('fail open')), 'the fail-open is logged');
  });

  await t.test('a static route is not subject to the domain policy', async (t) => {
    const id = await submit('routed');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.equal(got(wrongName, 'routed'), 1);
    t.match(relay.attempts(id)[0], { tlsPolicy: 'none' });
    t.equal(web.requests('sts-routed.test'), 0, 'no policy fetched for a routed domain');
  });

  await t.test('downgrade refused: TXT removed and MX moved to a server without TLS while the cached policy is valid', async (t) => {
    delete zone['_mta-sts.sts-ok.test'];
    zone['mx.sts-ok.test'] = { A: [NO_TLS] };
    dns.setZone(zone);
    const fetched = web.requests('sts-ok.test');
    const id = await submit('ok');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'deferred', 'mail waits rather than leaks');
    t.equal(got(noTls, 'ok'), 0, 'the attacker MX got nothing');
    t.match(relay.attempts(id)[0]!.hops, [{ result: 'tls_failed', tls: { policy: 'sts-enforce', result: 'starttls-not-supported' } }]);
    t.equal(web.requests('sts-ok.test'), fetched, 'no fetch without a TXT record');
    t.ok(relay.logs.some((l) => l.includes('downgrade refused') && l.includes('sts-ok.test')));
  });

  await t.test('same TXT id, MX moved to a host the cached policy lacks: the policy is fetched again before giving up', async (t) => {
    const id1 = await submit('refresh');
    t.equal((await relay.waitFor(id1, ['delivered', 'deferred', 'bounced']))[0]!.status, 'delivered');
    zone['sts-refresh.test'] = { MX: [{ exchange: 'mx2.sts-refresh.test', priority: 10 }] };
    zone['mx2.sts-refresh.test'] = { A: [GOOD] };
    dns.setZone(zone);
    web.set('sts-refresh.test', stsPolicy('enforce', ['mx2.sts-refresh.test']));
    const id2 = await submit('refresh');
    const [r] = await relay.waitFor(id2, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.match(relay.attempts(id2)[0]!.hops, [
      { host: 'mx2.sts-refresh.test', result: 'policy_refused' },
      { host: 'mx2.sts-refresh.test', result: 'connected', tls: { policy: 'sts-enforce', verified: true } },
    ]);
    t.equal(web.requests('sts-refresh.test'), 2);
  });

  await t.test('ferry tls check shows the cached and live policy, the MX hosts it lists, and recent results', async (t) => {
    const env = { NODE_EXTRA_CA_CERTS: ca.file, FERRY_DNS_SERVERS: '' };
    const asJson = await runFerry(['tls', 'check', 'sts-rogue.test', '--json', '-c', relay.configFile], { env });
    t.equal(asJson.code, 0, asJson.stderr);
    const report = JSON.parse(asJson.stdout) as Record<string, unknown>;
    t.match(report, {
      domain: 'sts-rogue.test',
      cached: { policyId: '2026120601', mode: 'enforce', mx: ['*.sts-rogue.test'], maxAgeSeconds: 86400, expired: false },
      live: { txt: { id: '2026120601' }, policy: { mode: 'enforce', mx: ['*.sts-rogue.test'] }, error: null },
      mx: [
        { host: 'mx.evil.test', inPolicy: false, dane: { kind: 'off' } },
        { host: 'a.b.sts-rogue.test', inPolicy: false },
        { host: 'mx.sts-rogue.test', inPolicy: true },
      ],
      recent: [{ mxHost: 'mx.sts-rogue.test', tlsPolicy: 'sts-enforce', tlsVerified: true, tlsResult: 'success', result: 'delivered' }],
    });
    const asTable = await runFerry(['tls', 'check', 'sts-broken.test', '-c', relay.configFile], { env: { ...env, COLUMNS: '200' } });
    t.equal(asTable.code, 0, asTable.stderr);
    t.match(asTable.stdout, /MTA-STS/);
    t.match(asTable.stdout, /HTTP 404/, 'the live fetch failure is shown');
    t.match(asTable.stdout, /sts-policy-fetch-error/, 'so is the recent result');
  });

  await t.test('a new TXT id makes Ferry fetch the new policy (here: testing instead of enforce)', async (t) => {
    zone['_mta-sts.sts-nostarttls.test'] = { TXT: ['v=STSv1; id=2026120602'] };
    dns.setZone(zone);
    web.set('sts-nostarttls.test', stsPolicy('testing', ['mx.sts-nostarttls.test']));
    const id = await submit('nostarttls');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered');
    t.match(relay.attempts(id)[0], { tlsPolicy: 'sts-testing', tlsResult: 'starttls-not-supported', tlsProtocol: null });
  });

  await t.test('the policy is keyed by recipient domain: three domains behind one MX host, three outcomes', async (t) => {
    const before = got(good, 'shared1') + got(good, 'shared2') + got(good, 'shared3');
    t.equal(before, 0);
    const id = await send({ smtpPort: relay.smtpPort } as StartedRelay, { to: ['rcpt@sts-shared1.test', 'rcpt@sts-shared2.test', 'rcpt@sts-shared3.test'] });
    const rows = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    const status = Object.fromEntries(rows.map((r) => [r.address, r.status]));
    t.same(status, { 'rcpt@sts-shared1.test': 'delivered', 'rcpt@sts-shared2.test': 'deferred', 'rcpt@sts-shared3.test': 'delivered' });
    t.equal(got(good, 'shared1'), 1, 'listed in its own enforce policy');
    t.equal(got(good, 'shared2'), 0, "another domain's policy listing the host does not let it through");
    t.equal(got(good, 'shared3'), 1, 'no policy: opportunistic');
    const byRcpt = new Map(rows.map((r) => [r.id, r.address]));
    const policyOf = (address: string) => relay.attempts(id).filter((a) => byRcpt.get(a.recipientId) === address).map((a) => a.tlsPolicy);
    t.same(policyOf('rcpt@sts-shared1.test'), ['sts-enforce']);
    t.same(policyOf('rcpt@sts-shared3.test'), ['none']);
    const refused = relay.attempts(id).find((a) => byRcpt.get(a.recipientId) === 'rcpt@sts-shared2.test');
    t.match(refused!.hops, [{ host: 'mx.shared.test', result: 'policy_refused', tls: { policy: 'sts-enforce' } }]);
  });

  const submitRequireTls = async (to: string): Promise<string> => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    try {
      const info = await transport.sendMail({ envelope: { from: 'sender@ferry.test', to: [to] }, raw: sampleMessage('requiretls'), requireTLSExtensionEnabled: true });
      return queuedId(info.response);
    } finally {
      transport.close();
    }
  };

  await t.test('REQUIRETLS to an MX validated by an enforce policy that offers REQUIRETLS: delivered, REQUIRETLS passed on', async (t) => {
    const id = await submitRequireTls('rcpt@sts-rtls.test');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered', r!.lastReply ?? '');
    t.match(relay.attempts(id)[0], { mxHost: 'mx.sts-rtls.test', tlsPolicy: 'sts-enforce', tlsVerified: true });
    const m = goodRequireTls.messages.find((x) => x.envelope.to.includes('rcpt@sts-rtls.test'));
    t.equal(m?.envelope.requireTls, true, 'MAIL FROM carried REQUIRETLS to the next hop');
  });

  await t.test('REQUIRETLS to a validated MX that does not offer REQUIRETLS: bounced 5.7.30, nothing sent', async (t) => {
    const id = await submitRequireTls('rcpt@sts-nortls.test');
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'bounced');
    t.match(r!.lastReply, /REQUIRETLS support required: mx\.sts-nortls\.test does not advertise REQUIRETLS/);
    t.equal(r!.lastEnhanced, '5.7.30');
    t.match(relay.attempts(id)[0], { tlsPolicy: 'sts-enforce', tlsVerified: true });
    t.equal(got(good, 'nortls'), 0);
  });

  await t.test('metrics count sessions by policy and outcome', async (t) => {
    const started = relay.logs.map((l) => JSON.parse(l) as { msg?: string; http?: string }).find((l) => l.msg === 'ferry started');
    const text = await (await fetch(`http://${started!.http}/metrics`)).text();
    t.match(text, /ferry_tls_sessions_total\{policy="sts-enforce",result="success"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="sts-enforce",result="certificate-host-mismatch"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="sts-enforce",result="validation-failure"\} [1-9]/, 'an MX the policy does not list');
    t.match(text, /ferry_tls_sessions_total\{policy="sts-testing",result="certificate-host-mismatch"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="none",result="sts-policy-fetch-error"\} [1-9]/);
  });

  await t.test("TLS-RPT: the testing policy's failures are counted and reported by POST to its https rua as RFC 8460 JSON", async (t) => {
    const day = utcDay(Date.now());
    const repo = createTlsReportRepo(relay.db);
    const deadline = Date.now() + 60_000;
    const counted = () => repo.day(day).find((p) => p.policyDomain === 'sts-testing.test');
    while (!counted() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const row = counted();
    t.ok(row, 'the relay stored the counts');
    t.match(row, { policy: { type: 'sts', mxHosts: ['mx.sts-testing.test'] }, success: 0, failure: 1 });
    t.same(row!.failures.map((f) => [f.resultType, f.receivingMxHostname, f.receivingIp]), [['certificate-host-mismatch', 'mx.sts-testing.test', WRONG_NAME]]);
    const rogue = repo.day(day).find((p) => p.policyDomain === 'sts-rogue.test');
    t.same(
      rogue!.failures.map((f) => [f.resultType, f.receivingMxHostname]).sort(),
      [['validation-failure', 'a.b.sts-rogue.test'], ['validation-failure', 'mx.evil.test']],
      'the MX hosts an enforce policy refused, each a failure',
    );
    const broken = repo.day(day).find((p) => p.policyDomain === 'sts-broken.test');
    t.match(broken, { policy: { type: 'sts' }, success: 0, failure: 1 }, 'failing open is reported as the policy failure, not as a success');
    t.same(broken!.failures.map((f) => f.resultType), ['sts-policy-fetch-error']);

    const sent = await runFerry(['tls', 'report', '--day', day, '--send', '--json', '-c', relay.configFile], { env: { NODE_EXTRA_CA_CERTS: ca.file, FERRY_DNS_SERVERS: '' } });
    t.equal(sent.code, 0, sent.stderr);
    const out = JSON.parse(sent.stdout) as { sendResults: { policyDomain: string; state: string }[] };
    t.match(out.sendResults.find((r) => r.policyDomain === 'sts-testing.test'), { state: 'sent' });
    const post = web.posts.find((p) => p.path === '/tlsrpt');
    t.ok(post, 'the report was POSTed');
    t.equal(post!.contentType, 'application/tlsrpt+gzip');
    const report = parseReport(post!.body);
    t.same(rfc8460Problems(report), [], 'RFC 8460 shape');
    t.equal(report.policies.length, 1);
    const p = report.policies[0]!;
    t.match(p.policy, { 'policy-type': 'sts', 'policy-domain': 'sts-testing.test', 'mx-host': ['mx.sts-testing.test'] });
    t.ok(p.policy['policy-string']!.includes('mode: testing'));
    t.same(p.summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 1 });
    t.match(p['failure-details'], [{ 'result-type': 'certificate-host-mismatch', 'receiving-mx-hostname': 'mx.sts-testing.test', 'receiving-ip': WRONG_NAME, 'failed-session-count': 1 }]);
  });
});
