import t from 'tap';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';
import { runFerry } from '../helpers/cli.js';
import type { StartedRelay } from '../helpers/relay.js';
import { send } from './fixtures/delivery.js';
import { createPki } from './fixtures/tls-pki.js';
import { freePortOn, startBrokenStarttlsSink, startChildRelay, labNet } from './fixtures/tls-lab.js';

/**
 * The TLS levels through the real relay: "TLS required" (delivery.requireTlsDomains, a route's
 * requireTls: true) now means a certificate valid for the MX name; "encrypt-only" keeps the old
 * meaning; opportunistic TLS retries a host whose STARTTLS breaks once in clear text, unless a
 * level requires TLS. Sinks: CA-signed (.10), self-signed (.12), broken STARTTLS (.14).
 */

const NET = labNet(3);
const GOOD = `${NET}.10`;
const SELF_SIGNED = `${NET}.12`;
const BROKEN = `${NET}.14`;

t.test('TLS levels through the relay', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.close());
  const ca = pki.ca('Ferry throwaway CA');
  const cases = ['verify-self', 'verify-good', 'encrypt', 'route-encrypt', 'route-verify', 'route-verify-bad', 'fallback', 'fallback-required'];
  const names = cases.map((c) => `mx.lvl-${c}.test`);
  const port = await freePortOn(GOOD);
  const good = await startMx({ host: GOOD, port, cert: pki.issue(ca, names) });
  const self = await startMx({ host: SELF_SIGNED, port, cert: pki.selfSigned(names) });
  t.teardown(async () => {
    await good.close();
    await self.close();
  });
  const broken = await startBrokenStarttlsSink(t, BROKEN, port);

  const zone: Zone = {};
  const at: Record<string, string> = {
    'verify-self': SELF_SIGNED,
    'verify-good': GOOD,
    encrypt: SELF_SIGNED,
    'route-encrypt': SELF_SIGNED,
    'route-verify': GOOD,
    'route-verify-bad': SELF_SIGNED,
    fallback: BROKEN,
    'fallback-required': BROKEN,
  };
  for (const c of cases) {
    zone[`lvl-${c}.test`] = { MX: [{ exchange: `mx.lvl-${c}.test`, priority: 10 }] };
    zone[`mx.lvl-${c}.test`] = { A: [at[c]!] };
  }
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());

  const relay = await startChildRelay(
    t,
    {
      dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
      http: { listen: '127.0.0.1:0' },
      delivery: {
        allowPrivateMx: true,
        port,
        connectTimeoutMs: 3000,
        greetingTimeoutMs: 3000,
        commandTimeoutMs: 3000,
        dataTimeoutMs: 3000,
        requireTlsDomains: ['lvl-verify-self.test', 'lvl-verify-good.test', 'lvl-fallback-required.test'],
      },
      outboundTls: { encryptOnlyDomains: ['lvl-encrypt.test'] },
      routes: {
        'lvl-route-encrypt.test': { host: `${SELF_SIGNED}:${port}`, requireTls: 'encrypt-only' },
        'lvl-route-verify.test': { host: `mx.lvl-route-verify.test:${port}`, requireTls: true },
        'lvl-route-verify-bad.test': { host: `mx.lvl-route-verify-bad.test:${port}`, requireTls: true },
      },
    },
    ca.file,
  );
  const outcome = async (c: string) => {
    const id = await send({ smtpPort: relay.smtpPort } as StartedRelay, { to: [`rcpt@lvl-${c}.test`] });
    const [r] = await relay.waitFor(id, ['delivered', 'deferred', 'bounced']);
    return { id, status: r!.status, attempt: relay.attempts(id)[0]! };
  };
  const got = (sink: TestMx, c: string): number => sink.messages.filter((m) => m.envelope.to.includes(`rcpt@lvl-${c}.test`)).length;

  await t.test('TLS required, self-signed certificate: deferred (it used to be delivered), nothing sent', async (t) => {
    const { status, attempt } = await outcome('verify-self');
    t.equal(status, 'deferred');
    t.equal(got(self, 'verify-self'), 0);
    t.match(attempt.hops, [{ result: 'tls_failed', error: { message: /not valid for mx\.lvl-verify-self\.test/ }, tls: { result: 'certificate-not-trusted' } }]);
  });

  await t.test('TLS required, certificate valid for the MX name: delivered, verified', async (t) => {
    const { status, attempt } = await outcome('verify-good');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsVerified: true, tlsPolicy: 'none', tlsResult: 'success' });
  });

  await t.test('encrypt-only domain, self-signed certificate: delivered over TLS, recorded as not verified', async (t) => {
    const { status, attempt } = await outcome('encrypt');
    t.equal(status, 'delivered');
    t.match(attempt, { tlsProtocol: /^TLS/, tlsVerified: false });
    t.equal(self.messages.find((m) => m.envelope.to.includes('rcpt@lvl-encrypt.test'))?.tls, true);
  });

  await t.test("route with requireTls: 'encrypt-only' to a self-signed smarthost: delivered", async (t) => {
    const { status } = await outcome('route-encrypt');
    t.equal(status, 'delivered');
  });

  await t.test('route with requireTls: true: verified against the route host name', async (t) => {
    t.equal((await outcome('route-verify')).status, 'delivered');
    const bad = await outcome('route-verify-bad');
    t.equal(bad.status, 'deferred');
    t.equal(got(self, 'route-verify-bad'), 0);
  });

  await t.test('opportunistic: STARTTLS handshake breaks, the same host is retried once in clear text', async (t) => {
    const before = broken.starttlsAttempts;
    const { id, status, attempt } = await outcome('fallback');
    t.equal(status, 'delivered');
    t.equal(broken.starttlsAttempts - before, 1, 'one STARTTLS, then no more');
    t.same(broken.messages.at(-1), ['rcpt@lvl-fallback.test']);
    t.match(attempt, { tlsProtocol: null, tlsPolicy: 'none', tlsVerified: false });
    t.match(attempt.hops, [
      { host: 'mx.lvl-fallback.test', ip: BROKEN, result: 'tls_failed' },
      { host: 'mx.lvl-fallback.test', ip: BROKEN, result: 'connected', tls: { cleartextFallback: true } },
    ]);
    t.ok(relay.logs.some((l) => l.includes('retrying this host once in clear text')));
    const shown = await runFerry(['messages', 'show', id, '-c', relay.configFile], { env: { COLUMNS: '250', FERRY_DNS_SERVERS: '' } });
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, /clear-text fallback/);
    t.match(shown.stdout, /policy none, not verified/);
  });

  await t.test('TLS required: a broken STARTTLS is not retried in clear text', async (t) => {
    const before = broken.messages.length;
    const { status, attempt } = await outcome('fallback-required');
    t.equal(status, 'deferred');
    t.equal(broken.messages.length, before, 'nothing sent in clear text');
    t.equal(attempt.hops!.length, 1);
  });

  await t.test('metrics count sessions by policy and result', async (t) => {
    const started = relay.logs.map((l) => JSON.parse(l) as { msg?: string; http?: string }).find((l) => l.msg === 'ferry started');
    const res = await fetch(`http://${started!.http}/metrics`);
    const text = await res.text();
    t.match(text, /ferry_tls_sessions_total\{policy="none",result="success"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="none",result="certificate-not-trusted"\} [1-9]/);
    t.match(text, /ferry_tls_sessions_total\{policy="none",result="starttls-not-supported"\} [1-9]/);
  });
});
