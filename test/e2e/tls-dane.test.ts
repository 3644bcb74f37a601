import t from 'tap';
import nodemailer from 'nodemailer';
import { startDnsServer, type Zone, type ZoneEntry } from '../helpers/dns-server.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';
import { queuedId, type StartedRelay } from '../helpers/relay.js';
import { runFerry } from '../helpers/cli.js';
import { sampleMessage, send } from './fixtures/delivery.js';
import { createPki, tlsaSha256 } from './fixtures/tls-pki.js';
import { freePortOn, startChildRelay, startPolicyServer, stsPolicy, labNet } from './fixtures/tls-lab.js';

/**
 * DANE for SMTP (RFC 7672) through the real relay: the test DNS server doubles as the
 * "validating resolver" (dns.dnssec on loopback) and sets AD on the answers a real one would have
 * validated. Sinks: WebPKI-valid certificate (.10), self-signed (.12), no STARTTLS (.13), a leaf
 * from a CA nobody trusts but the TLSA record (.15), the same CA for another name (.16), and a
 * self-signed MX that offers REQUIRETLS (.17).
 */

const NET = labNet(2);
const HTTPS = `${NET}.1`;
const WEBPKI = `${NET}.10`;
const SELF_SIGNED = `${NET}.12`;
const NO_TLS = `${NET}.13`;
const DANE_TA = `${NET}.15`;
const DANE_TA_WRONG = `${NET}.16`;
const REQUIRETLS_MX = `${NET}.17`;

t.test('DANE through the relay', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.close());
  const ca = pki.ca('Ferry throwaway CA');
  const daneCa = pki.ca('Private CA known only from TLSA');
  const names = ['ee', 'ta', 'tawrong', 'bad', 'nostarttls', 'bogus', 'none', 'insecure', 'oversts', 'pkix', 'rtls'].map((c) => `mx.dane-${c}.test`);
  const port = await freePortOn(WEBPKI);
  const selfPem = pki.selfSigned(names);
  const webPem = pki.issue(ca, names);
  const sinks: TestMx[] = [
    await startMx({ host: WEBPKI, port, cert: webPem }),
    await startMx({ host: SELF_SIGNED, port, cert: selfPem }),
    await startMx({ host: NO_TLS, port, tls: false }),
    await startMx({ host: DANE_TA, port, cert: pki.issue(daneCa, ['mx.dane-ta.test'], { withChain: true }) }),
    await startMx({ host: DANE_TA_WRONG, port, cert: pki.issue(daneCa, ['elsewhere.test'], { withChain: true }) }),
    await startMx({ host: REQUIRETLS_MX, port, cert: selfPem, requireTls: true }),
  ];
  const [web, self, noTls, ta, taWrong, rtls] = sinks as [TestMx, TestMx, TestMx, TestMx, TestMx, TestMx];
  t.teardown(async () => {
    for (const s of sinks) await s.close();
  });
  const policies = await startPolicyServer(t, HTTPS, pki.issue(ca, ['mta-sts.dane-oversts.test']));
  policies.set('dane-oversts.test', stsPolicy('enforce', ['mx.dane-oversts.test']));

  const ee = { usage: 3, selector: 1, matchingType: 1, certificate: tlsaSha256(selfPem.cert, 1) };
  const other = { usage: 3, selector: 1, matchingType: 1, certificate: tlsaSha256(pki.selfSigned(['unrelated.test']).cert, 1) };
  // PKIX-EE (usage 1) for the self-signed certificate: an exact match, but usage 1 is not used for SMTP (RFC 7672 §3.1.3)
  const pkixEe = { usage: 1, selector: 1, matchingType: 1, certificate: tlsaSha256(selfPem.cert, 1) };
  const taRecord = { usage: 2, selector: 0, matchingType: 1, certificate: tlsaSha256(daneCa.cert, 0) };
  const zone: Zone = {};
  const domain = (c: string, ip: string, tlsa: ZoneEntry | null): void => {
    const mx = `mx.dane-${c}.test`;
    zone[`dane-${c}.test`] = { MX: [{ exchange: mx, priority: 10 }], ad: true };
    zone[mx] = { A: [ip], ad: true };
    if (tlsa) zone[`_${port}._tcp.${mx}`] = tlsa;
  };
  domain('ee', SELF_SIGNED, { TLSA: [ee], ad: true });
  domain('ta', DANE_TA, { TLSA: [taRecord], ad: true });
  domain('tawrong', DANE_TA_WRONG, { TLSA: [taRecord], ad: true });
  domain('bad', WEBPKI, { TLSA: [other], ad: true });
  domain('nostarttls', NO_TLS, { TLSA: [ee], ad: true });
  domain('bogus', SELF_SIGNED, { rcode: 'SERVFAIL' });
  domain('none', SELF_SIGNED, null);
  domain('insecure', WEBPKI, { TLSA: [other], ad: false });
  domain('oversts', SELF_SIGNED, { TLSA: [ee], ad: true });
  domain('pkix', SELF_SIGNED, { TLSA: [pkixEe], ad: true });
  domain('rtls', REQUIRETLS_MX, { TLSA: [ee], ad: true });
  zone['_mta-sts.dane-oversts.test'] = { TXT: ['v=STSv1; id=1'] };
  zone['mta-sts.dane-oversts.test'] = { A: [HTTPS] };
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());

  const relay = await startChildRelay(
    t,
    {
      dns: { servers: [dns.address], timeoutMs: 1000, tries: 1, dnssec: { server: dns.address } },
      http: { listen: '127.0.0.1:0' },
      delivery: { allowPrivateMx: true, port, connectTimeoutMs: 3000, greetingTimeoutMs: 3000, commandTimeoutMs: 3000, dataTimeoutMs: 3000 },
      outboundTls: { daneTimeoutMs: 1000 },
    },
    ca.file,
  );
  const submit = (c: string): Promise<string> => send({ smtpPort: relay.smtpPort } as StartedRelay, { to: [`rcpt@dane-${c}.test`] });
  const got = (sink: TestMx, c: string): number => sink.messages.filter((m) => m.envelope.to.includes(`rcpt@dane-${c}.test`)).length;
  const outcome = async (c: string) => {
    const id = await submit(c);
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    return { status: r!.status, attempt: relay.attempts(id)[0]! };
  };

  await t.test('DANE-EE record matches a self-signed certificate: delivered, verified', async (t) => {
    const { status, attempt } = await outcome('ee');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsPolicy: 'dane', tlsVerified: true, tlsResult: 'success' });
    t.equal(got(self, 'ee'), 1);
  });

  await t.test('DANE-TA record matches the private CA in the presented chain: delivered, verified', async (t) => {
    const { status, attempt } = await outcome('ta');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsPolicy: 'dane', tlsVerified: true });
    t.equal(got(ta, 'ta'), 1);
  });

  await t.test('DANE-TA chain is right but the certificate names another host: deferred', async (t) => {
    const { status, attempt } = await outcome('tawrong');
    t.equal(status, 'deferred');
    t.equal(got(taWrong, 'tawrong'), 0);
    t.match(attempt.hops, [{ result: 'tls_failed', tls: { policy: 'dane', result: 'certificate-host-mismatch' } }]);
  });

  await t.test('TLSA does not match (even though WebPKI would): deferred, nothing sent', async (t) => {
    const { status, attempt } = await outcome('bad');
    t.equal(status, 'deferred');
    t.equal(got(web, 'bad'), 0);
    t.match(attempt.hops, [{ result: 'tls_failed', tls: { policy: 'dane', result: 'validation-failure', verified: false } }]);
  });

  await t.test('TLSA published, MX offers no STARTTLS: deferred, nothing sent in clear text', async (t) => {
    const { status, attempt } = await outcome('nostarttls');
    t.equal(status, 'deferred');
    t.equal(got(noTls, 'nostarttls'), 0);
    t.match(attempt.hops, [{ result: 'tls_failed', tls: { policy: 'dane', result: 'starttls-not-supported' } }]);
  });

  await t.test('TLSA lookup bogus (SERVFAIL from the validating resolver): deferred without contacting the MX', async (t) => {
    const before = self.connections;
    const { status, attempt } = await outcome('bogus');
    t.equal(status, 'deferred');
    t.equal(self.connections, before, 'the MX was not contacted');
    t.match(attempt.hops, [{ ip: null, result: 'tls_failed', tls: { policy: 'dane', result: 'dnssec-invalid' } }]);
  });

  await t.test('no TLSA records: falls back to opportunistic TLS', async (t) => {
    const { status, attempt } = await outcome('none');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsPolicy: 'none', tlsVerified: false, tlsProtocol: /^TLS/ });
  });

  await t.test('TLSA records without AD (not validated) are ignored', async (t) => {
    const { status, attempt } = await outcome('insecure');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsPolicy: 'none' });
    t.equal(got(web, 'insecure'), 1);
  });

  await t.test('ferry tls check shows the TLSA records and a bogus lookup', async (t) => {
    const ok = await runFerry(['tls', 'check', 'dane-ee.test', '--json', '-c', relay.configFile], { env: { FERRY_DNS_SERVERS: '' } });
    t.equal(ok.code, 0, ok.stderr);
    t.match(JSON.parse(ok.stdout), {
      mx: [{ host: 'mx.dane-ee.test', dane: { kind: 'dane', strings: [`3 1 1 ${ee.certificate.toString('hex')}`] } }],
      recent: [{ tlsPolicy: 'dane', tlsVerified: true }],
    });
    const bogus = await runFerry(['tls', 'check', 'dane-bogus.test', '-c', relay.configFile], { env: { COLUMNS: '200', FERRY_DNS_SERVERS: '' } });
    t.equal(bogus.code, 0, bogus.stderr);
    t.match(bogus.stdout, /TLSA lookup failed \(mail deferred\)/);
  });

  await t.test('DANE takes precedence over MTA-STS enforce', async (t) => {
    // MTA-STS alone would refuse the self-signed certificate; the TLSA record vouches for it
    const { status, attempt } = await outcome('oversts');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsPolicy: 'dane', tlsVerified: true });
  });

  await t.test('the validating resolver is asked with the DO bit (MX and TLSA)', async (t) => {
    const asked = dns.queries.filter((q) => q.type === 'TLSA' || (q.type === 'MX' && q.name === 'dane-ee.test'));
    t.ok(asked.some((q) => q.type === 'TLSA'), 'TLSA records were asked for');
    t.same(asked.filter((q) => q.type === 'TLSA' && !q.dnssecOk), [], 'every TLSA query had DO set');
    t.ok(asked.some((q) => q.type === 'MX' && q.dnssecOk), "the domain's MX RRset was asked for with DO (is it signed?)");
  });

  await t.test('only usages 2 and 3 authenticate: a matching PKIX-EE (usage 1) record leaves the certificate unverified, TLS still required', async (t) => {
    const { status, attempt } = await outcome('pkix');
    t.equal(status, 'delivered', 'secure but unusable TLSA: mandatory unauthenticated TLS (RFC 7672 §2.2)');
    t.match(attempt, { tlsPolicy: 'dane', tlsVerified: false, tlsProtocol: /^TLS/ });
    t.equal(got(self, 'pkix'), 1);
  });

  await t.test('REQUIRETLS to a DANE-validated MX that offers REQUIRETLS: delivered, REQUIRETLS passed on', async (t) => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    t.teardown(() => transport.close());
    const info = await transport.sendMail({ envelope: { from: 'sender@ferry.test', to: ['rcpt@dane-rtls.test'] }, raw: sampleMessage('requiretls'), requireTLSExtensionEnabled: true });
    const id = queuedId(info.response);
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    t.equal(r!.status, 'delivered', r!.lastReply ?? '');
    t.match(relay.attempts(id)[0], { tlsPolicy: 'dane', tlsVerified: true });
    const m = rtls.messages.find((x) => x.envelope.to.includes('rcpt@dane-rtls.test'));
    t.equal(m?.envelope.requireTls, true, 'MAIL FROM carried REQUIRETLS to the next hop');
  });

  await t.test('metrics count DANE sessions by outcome', async (t) => {
    const started = relay.logs.map((l) => JSON.parse(l) as { msg?: string; http?: string }).find((l) => l.msg === 'ferry started');
    const text = await (await fetch(`http://${started!.http}/metrics`)).text();
    t.match(text, /ferry_tls_sessions_total\{policy="dane",result="success"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="dane",result="validation-failure"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="dane",result="dnssec-invalid"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="dane",result="starttls-not-supported"\} [1-9]/);
  });
});
