import t, { type Test } from 'tap';
import { Readable } from 'node:stream';
import { systemClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { createDnsResolver } from '../../src/core/resolver.js';
import { silentLogger } from '../../src/core/logger.js';
import { connectSmtp as connectHere } from '../../src/deliver/connection.js';
import { createDeliverer, type DeliverySession } from '../../src/deliver/deliverer.js';
import { MAX_REPLY_READ_CHARS } from '../../src/deliver/reply.js';
import { createSessionThread } from '../../src/deliver/session-thread.js';
import { createRouter, type StaticRoute } from '../../src/deliver/route.js';
import type { OutgoingMessage } from '../../src/deliver/types.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';
import { startMx, type MxOptions, type TestMx } from '../helpers/mx-server.js';
import { waitFor } from '../helpers/bounce.js';

// Generous, so a loaded machine (a TLS handshake can take seconds at load 20) does not turn a
// delivery into a timeout; the tests about a timeout shorten only the one they wait for.
const timeouts = { connectTimeoutMs: 60_000, greetingTimeoutMs: 60_000, commandTimeoutMs: 60_000, dataTimeoutMs: 60_000 };
type Timeouts = typeof timeouts;

const BODY = Buffer.from(
  'From: sender@ferry.test\r\nTo: rcpt@example.test\r\nSubject: hello\r\nMessage-ID: <1@ferry.test>\r\n\r\n' +
    'Hello there.\r\n.a line starting with a dot\r\n..two dots\r\n\r\nBye.\r\n',
);

// The same tests, the sessions on this thread or on the delivery thread (deliverer-thread.test.ts):
// the same deliveries must give the same results either way.
const thread = process.env.FERRY_TEST_DELIVERY_THREAD === '1' ? createSessionThread({ logger: silentLogger() }) : null;
if (thread) t.teardown(() => thread.close());
// the thread loads its code before the first session (as the relay's start waits for it): the timeouts below are for sessions
if (thread) await thread.ready();
const connectSmtp = thread ? thread.connect : connectHere;

let seq = 0;
function message(to: string[], over: Partial<OutgoingMessage> & { bytes?: Buffer } = {}): OutgoingMessage {
  const bytes = over.bytes ?? BODY;
  return {
    id: `msg-${++seq}`,
    from: 'sender@ferry.test',
    to,
    size: bytes.length,
    eightBit: bytes.some((b) => b > 127),
    smtputf8: false,
    body: () => Readable.from([bytes]),
    ...over,
  };
}

async function setup(
  t: Test,
  opts: { mx1?: MxOptions | null; mx2?: MxOptions | null; routes?: Record<string, StaticRoute>; requireTlsDomains?: string[]; encryptOnlyDomains?: string[]; timeouts?: Timeouts } = {},
): Promise<{ mx1: TestMx | null; mx2: TestMx | null; open: (domain?: string, signal?: AbortSignal) => ReturnType<ReturnType<typeof createDeliverer>['openSession']>; port: number }> {
  // mx1 on 127.0.0.2, mx2 on 127.0.0.3, same port (MX hosts share delivery.port)
  let mx1: TestMx | null = null;
  let mx2: TestMx | null = null;
  let port = 0;
  if (opts.mx1 !== null) {
    mx1 = await startMx({ host: '127.0.0.2', ...opts.mx1 });
    t.teardown(() => mx1!.close());
    port = mx1.port;
  }
  if (opts.mx2) {
    mx2 = await startMx({ host: '127.0.0.3', port, ...opts.mx2 });
    t.teardown(() => mx2!.close());
    port = mx2.port;
  }
  const zone: Zone = {
    'example.test': {
      MX: [
        { exchange: 'mx1.example.test', priority: 10 },
        { exchange: 'mx2.example.test', priority: 20 },
      ],
    },
    'mx1.example.test': { A: ['127.0.0.2'] },
    'mx2.example.test': { A: ['127.0.0.3'] },
  };
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());
  const router = createRouter({
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 }),
    routes: opts.routes ?? {},
    allowPrivateMx: true,
    port,
    random: seededRandom(1),
    requireTlsDomains: opts.requireTlsDomains ?? [],
    encryptOnlyDomains: opts.encryptOnlyDomains ?? [],
    clock: systemClock,
  });
  const deliverer = createDeliverer({ router, hostname: 'relay.ferry.test', timeouts: opts.timeouts ?? timeouts, clock: systemClock, connect: connectSmtp });
  return { mx1, mx2, port, open: (domain = 'example.test', signal) => deliverer.openSession(domain, signal) };
}

async function session(t: Test, open: () => ReturnType<ReturnType<typeof createDeliverer>['openSession']>): Promise<DeliverySession> {
  const res = await open();
  if (!res.ok) throw new Error(`no session: ${res.error.message}`);
  t.teardown(() => res.session.close());
  return res.session;
}

t.test('plain delivery: bytes arrive unchanged, STARTTLS used and recorded', async (t) => {
  const { mx1, open } = await setup(t);
  const res = await open();
  if (!res.ok) throw t.fail(res.error.message);
  t.match(res.tries, [{ host: 'mx1.example.test', ip: '127.0.0.2', preference: 10, result: 'connected' }]);
  const s = res.session;
  t.teardown(() => s.close());
  t.match(s.tls, { protocol: /^TLSv1\.[23]$/, cipher: /\w/ });
  const report = await s.send(message(['rcpt@example.test']));
  t.match(report.recipients, [{ address: 'rcpt@example.test', ok: true, reply: { code: 250, text: '250 OK: message queued' } }]);
  t.match(report.hop, { host: 'mx1.example.test', ip: '127.0.0.2', tls: { protocol: /TLS/ } });
  t.equal(report.sessionUsable, true);
  t.equal(mx1!.messages.length, 1);
  t.same(mx1!.messages[0]!.envelope, { from: 'sender@ferry.test', to: ['rcpt@example.test'] });
  t.equal(mx1!.messages[0]!.tls, true);
  t.equal(mx1!.messages[0]!.helo, 'relay.ferry.test', 'EHLO with the configured hostname');
  t.equal(mx1!.messages[0]!.raw.toString('latin1'), BODY.toString('latin1'), 'bytes received equal bytes sent');
});

t.test('no STARTTLS offered: delivered in clear text, recorded as no protocol, not verified', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { tls: false } });
  const s = await session(t, open);
  t.same(s.tls, { protocol: null, cipher: null, verified: false, policy: 'none', result: 'starttls-not-supported' });
  const report = await s.send(message(['rcpt@example.test'], { from: '' }));
  t.match(report.recipients, [{ ok: true }]);
  t.match(report.hop.tls, { protocol: null, verified: false });
  t.same(mx1!.messages[0]!.envelope, { from: '', to: ['rcpt@example.test'] }, 'null sender sent as MAIL FROM:<>');
  t.equal(mx1!.messages[0]!.tls, false);
});

t.test('TLS required but not offered: fails closed, every MX tried, nothing sent', async (t) => {
  const { mx1, mx2, open } = await setup(t, { mx1: { tls: false }, mx2: { tls: false }, requireTlsDomains: ['example.test'] });
  const res = await open();
  t.match(res, { ok: false, permanent: false, reason: 'all_hops_failed' });
  t.match(res.tries, [
    { host: 'mx1.example.test', result: 'tls_failed', error: { kind: 'tls', message: /TLS is required/ } },
    { host: 'mx2.example.test', result: 'tls_failed' },
  ]);
  t.equal(mx1!.messages.length + mx2!.messages.length, 0);
});

t.test('TLS required, MX presents a self-signed certificate for another name: refused before anything is sent', async (t) => {
  const { mx1, open } = await setup(t, { requireTlsDomains: ['example.test'] });
  const res = await open();
  t.match(res, { ok: false, reason: 'all_hops_failed' });
  t.match(res.tries[0], {
    host: 'mx1.example.test',
    result: 'tls_failed',
    error: { kind: 'tls', message: /not valid for mx1\.example\.test/ },
    tls: { policy: 'none', result: 'certificate-not-trusted', verified: false, protocol: /^TLS/ },
  });
  t.equal(mx1!.messages.length, 0);
});

t.test('encrypt-only: TLS required, any certificate: delivered over TLS, not verified', async (t) => {
  const { mx1, open } = await setup(t, { encryptOnlyDomains: ['example.test'] });
  const s = await session(t, open);
  t.match(s.tls, { protocol: /^TLS/, verified: false });
  const report = await s.send(message(['rcpt@example.test']));
  t.match(report.recipients, [{ ok: true }]);
  t.equal(mx1!.messages[0]!.tls, true);
});

t.test('per-recipient replies in one transaction', async (t) => {
  const { mx1, open } = await setup(t, {
    mx1: {
      script: {
        rcpt: (a) =>
          a.startsWith('unknown') ? { code: 550, message: '5.1.1 No such user here' } : a.startsWith('full') ? { code: 452, message: '4.2.2 Mailbox full' } : null,
      },
    },
  });
  const s = await session(t, open);
  const report = await s.send(message(['ok1@example.test', 'unknown@example.test', 'full@example.test', 'ok2@example.test']));
  t.match(report.recipients, [
    { address: 'ok1@example.test', ok: true, reply: { code: 250 } },
    { address: 'unknown@example.test', ok: false, phase: 'rcpt', reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 No such user here' } },
    { address: 'full@example.test', ok: false, phase: 'rcpt', reply: { code: 452, enhanced: '4.2.2', text: '452 4.2.2 Mailbox full' } },
    { address: 'ok2@example.test', ok: true },
  ]);
  t.same(mx1!.messages[0]!.envelope.to, ['ok1@example.test', 'ok2@example.test']);
  t.equal(report.sessionUsable, true);
});

t.test('every recipient refused: no DATA, each keeps its own reply', async (t) => {
  const { mx1, open } = await setup(t, {
    mx1: { script: { rcpt: (a) => (a.startsWith('a') ? { code: 550, message: '5.1.1 Unknown user' } : { code: 450, message: '4.7.1 Greylisted' }) } },
  });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test', 'b@example.test']));
  t.match(report.recipients, [
    { address: 'a@example.test', ok: false, phase: 'rcpt', reply: { code: 550, enhanced: '5.1.1' } },
    { address: 'b@example.test', ok: false, phase: 'rcpt', reply: { code: 450, enhanced: '4.7.1' } },
  ]);
  t.equal(mx1!.messages.length, 0);
  t.equal(report.sessionUsable, true, 'the connection stays usable after a refused envelope');
  const second = await s.send(message(['c@example.test']));
  t.match(second.recipients, [{ ok: false, phase: 'rcpt' }]);
});

t.test('MAIL FROM refused and final-dot refusal', async (t) => {
  const { mx1, open } = await setup(t, {
    mx1: {
      script: {
        mailFrom: (f) => (f.startsWith('blocked') ? { code: 553, message: '5.7.1 Sender rejected' } : null),
        data: (n) => (n === 1 ? { code: 554, message: '5.7.1 Message looks like spam' } : null),
      },
    },
  });
  const s = await session(t, open);
  const r1 = await s.send(message(['a@example.test', 'b@example.test'], { from: 'blocked@ferry.test' }));
  t.match(r1.recipients, [
    { ok: false, phase: 'mail', reply: { code: 553, enhanced: '5.7.1' } },
    { ok: false, phase: 'mail', reply: { code: 553 } },
  ]);
  const r2 = await s.send(message(['a@example.test']));
  t.match(r2.recipients, [{ ok: false, phase: 'message', reply: { code: 554, enhanced: '5.7.1', text: '554 5.7.1 Message looks like spam' } }]);
  const r3 = await s.send(message(['a@example.test']));
  t.match(r3.recipients, [{ ok: true }]);
  t.equal(mx1!.messages.length, 1);
  t.equal(mx1!.connections, 1);
});

t.test('first MX down, second up', async (t) => {
  // nothing listens on 127.0.0.2:port
  const mx2 = await startMx({ host: '127.0.0.3' });
  t.teardown(() => mx2.close());
  const { open } = await setupWithPort(t, mx2.port);
  const res = await open();
  if (!res.ok) throw t.fail(res.error.message);
  t.teardown(() => res.session.close());
  t.match(res.tries, [
    { host: 'mx1.example.test', ip: '127.0.0.2', result: 'connect_failed', error: { kind: 'connect', message: /ECONNREFUSED|ECONNECTION|ESOCKET/ } },
    { host: 'mx2.example.test', ip: '127.0.0.3', result: 'connected' },
  ]);
  const report = await res.session.send(message(['x@example.test']));
  t.match(report.recipients, [{ ok: true }]);
  t.equal(mx2.messages.length, 1);
});

async function setupWithPort(t: Test, port: number) {
  const dns = await startDnsServer({
    'example.test': { MX: [{ exchange: 'mx1.example.test', priority: 10 }, { exchange: 'mx2.example.test', priority: 20 }] },
    'mx1.example.test': { A: ['127.0.0.2'] },
    'mx2.example.test': { A: ['127.0.0.3'] },
  });
  t.teardown(() => dns.close());
  const router = createRouter({
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 }),
    routes: {},
    allowPrivateMx: true,
    port,
    random: seededRandom(1),
    requireTlsDomains: [],
    clock: systemClock,
  });
  const d = createDeliverer({ router, hostname: 'relay.ferry.test', timeouts, clock: systemClock, connect: connectSmtp });
  return { open: (signal?: AbortSignal) => d.openSession('example.test', signal) };
}

t.test('421 greeting: next MX', async (t) => {
  const { mx1, mx2, open } = await setup(t, { mx1: { script: { greeting: { code: 421, message: '4.3.2 Too busy, try later' } } }, mx2: {} });
  const res = await open();
  if (!res.ok) throw t.fail(res.error.message);
  t.teardown(() => res.session.close());
  t.match(res.tries, [
    { host: 'mx1.example.test', result: 'greeting_rejected', reply: { code: 421, text: '421 4.3.2 Too busy, try later' } },
    { host: 'mx2.example.test', result: 'connected' },
  ]);
  await res.session.send(message(['x@example.test']));
  t.equal(mx1!.messages.length, 0);
  t.equal(mx2!.messages.length, 1);
});

t.test('greeting that never comes: timeout, next MX', async (t) => {
  // The timeout applies to mx2's greeting too: long enough for a loaded machine to greet in.
  const { mx2, open } = await setup(t, { mx1: { raw: true, script: { greeting: 'stall' } }, mx2: {}, timeouts: { ...timeouts, greetingTimeoutMs: 3000 } });
  const res = await open();
  t.match(res, { ok: true, tries: [{ result: 'connect_failed', error: { kind: 'timeout' } }, { result: 'connected' }] });
  if (res.ok) {
    t.teardown(() => res.session.close());
    await res.session.send(message(['x@example.test']));
  }
  t.equal(mx2!.messages.length, 1);
});

t.test('stall after DATA: timeout reported, session dead', async (t) => {
  const { open } = await setup(t, { mx1: { script: { dataFault: 'stall' } }, timeouts: { ...timeouts, dataTimeoutMs: 500 } });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test', 'b@example.test']));
  t.match(report.recipients, [
    { address: 'a@example.test', ok: false, phase: 'data', error: { kind: 'timeout' } },
    { address: 'b@example.test', ok: false, phase: 'data', error: { kind: 'timeout' } },
  ]);
  // Not before the 500 ms data timeout; the upper bound only tells it from a default of minutes.
  t.ok(report.durationMs >= 450 && report.durationMs < 15_000, `gave up after the data timeout (${report.durationMs} ms)`);
  t.equal(report.sessionUsable, false);
  t.equal(s.usable, false);
  const after = await s.send(message(['c@example.test']));
  t.match(after.recipients, [{ ok: false, phase: 'connect' }], 'a dead session reports instead of throwing');
});

t.test('connection reset mid-DATA: every recipient says so', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { script: { dataFault: 'reset' }, tls: false } });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test', 'b@example.test']));
  t.match(report.recipients, [
    { ok: false, phase: 'data', error: { kind: 'connect', message: /ECONNRESET|closed/ } },
    { ok: false, phase: 'data', error: { kind: 'connect' } },
  ]);
  t.equal(report.sessionUsable, false);
  t.equal(mx1!.messages.length, 0);
});

t.test('250 to the final dot, then the connection drops: delivered', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { script: { dataFault: 'reset-after-reply' } } });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test']));
  t.match(report.recipients, [{ ok: true, reply: { code: 250 } }]);
  t.equal(mx1!.messages.length, 1);
  // no RSET after a completed transaction: the drop is found by the next message, before any of it is sent
  const next = await s.send(message(['b@example.test']));
  t.equal(next.notSent, true, 'the next message is not sent: it can go over a new session');
  t.match(next.recipients, [{ ok: false, error: { kind: 'connect' } }]);
  t.equal(next.sessionUsable, false, 'and the session cannot be reused');
  t.equal(s.usable, false);
  t.equal(mx1!.messages.length, 1);
});

t.test('multi-line replies are parsed whole', async (t) => {
  const { open } = await setup(t, {
    mx1: {
      raw: true,
      script: {
        rcpt: (a) => (a.startsWith('bad') ? { code: 550, message: ['5.1.1 The email account that you tried to reach does not exist.', '5.1.1 Please try again.'] } : null),
        data: () => ({ code: 250, message: ['2.0.0 Ok', '2.0.0 queued as 12345'] }),
      },
    },
  });
  const s = await session(t, open);
  const report = await s.send(message(['good@example.test', 'bad@example.test']));
  t.match(report.recipients, [
    { ok: true, reply: { code: 250, enhanced: '2.0.0', text: '250-2.0.0 Ok 250 2.0.0 queued as 12345' } },
    {
      ok: false,
      phase: 'rcpt',
      reply: { code: 550, enhanced: '5.1.1', text: '550-5.1.1 The email account that you tried to reach does not exist. 550 5.1.1 Please try again.' },
    },
  ]);
});

t.test('a reply of 12,000 lines is read by its start, its text bounded', async (t) => {
  const { open } = await setup(t, {
    mx1: {
      raw: true,
      script: { rcpt: () => ({ code: 550, message: Array.from({ length: 12_000 }, (_, i) => `5.1.1 line ${i} of a reply no server should send`) }) },
    },
  });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test']));
  t.match(report.recipients, [{ ok: false, phase: 'rcpt', reply: { code: 550, enhanced: '5.1.1' } }]);
  const text = report.recipients[0]!.reply!.text;
  t.ok(text.length <= MAX_REPLY_READ_CHARS, `the reply text kept: ${text.length} characters of ~600,000`);
  t.match(text, /^550-5\.1\.1 line 0 of a reply/);
});

t.test('one connection, two messages (no RSET after a completed transaction)', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { tls: false } });
  const s = await session(t, open);
  const r1 = await s.send(message(['a@example.test']));
  const r2 = await s.send(message(['b@example.test']));
  t.match([r1.recipients, r2.recipients], [[{ ok: true }], [{ ok: true }]]);
  t.equal(s.messagesSent, 2);
  await s.close();
  t.equal(mx1!.connections, 1);
  t.equal(mx1!.messages.length, 2);
  t.same(mx1!.messages.map((m) => m.envelope.to), [['a@example.test'], ['b@example.test']]);
  t.equal(mx1!.resets, 0, 'MAIL follows a finished transaction directly (RFC 5321 4.1.1.2)');
});

t.test('a refused transaction is followed by RSET, and the session goes on', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { tls: false, script: { mailFrom: (a) => (a === 'bad@ferry.test' ? { code: 550, message: '5.7.1 Sender refused' } : null) } } });
  const s = await session(t, open);
  const r1 = await s.send(message(['a@example.test'], { from: 'bad@ferry.test' }));
  t.match(r1.recipients, [{ ok: false, phase: 'mail', reply: { code: 550 } }]);
  const r2 = await s.send(message(['b@example.test']));
  t.match(r2.recipients, [{ ok: true }]);
  await s.close();
  t.equal(mx1!.connections, 1);
  t.equal(mx1!.resets, 1);
});

t.test('8-bit body to a server without 8BITMIME: permanent local failure, nothing sent', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { hideEightBit: true } });
  const s = await session(t, open);
  const eight = Buffer.concat([BODY, Buffer.from('Grüße\r\n', 'utf8')]);
  const report = await s.send(message(['a@example.test', 'b@example.test'], { bytes: eight }));
  t.match(report.recipients, [
    { ok: false, phase: 'message', permanentLocal: true, localReason: 'eight_bit', error: { kind: 'local', message: /8BITMIME/ } },
    { ok: false, phase: 'message', permanentLocal: true, localReason: 'eight_bit' },
  ]);
  t.equal(mx1!.messages.length, 0);
  t.equal(report.sessionUsable, true);
  const ok = await s.send(message(['a@example.test']));
  t.match(ok.recipients, [{ ok: true }], 'the session goes on with 7-bit mail');
});

t.test('8-bit body to a server with 8BITMIME: sent intact', async (t) => {
  const { mx1, open } = await setup(t);
  const s = await session(t, open);
  const eight = Buffer.concat([BODY, Buffer.from('Grüße\r\n', 'utf8')]);
  const report = await s.send(message(['a@example.test'], { bytes: eight }));
  t.match(report.recipients, [{ ok: true }]);
  t.ok(mx1!.messages[0]!.raw.equals(eight));
});

t.test('internationalised recipient to a server without SMTPUTF8: only that one refused', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { hideSmtpUtf8: true } });
  const s = await session(t, open);
  const report = await s.send(message(['ascii@example.test', 'josé@example.test']));
  t.match(report.recipients, [
    { address: 'ascii@example.test', ok: true },
    { address: 'josé@example.test', ok: false, permanentLocal: true, localReason: 'smtputf8' },
  ]);
  t.same(mx1!.messages[0]!.envelope.to, ['ascii@example.test']);
});

t.test('message over the announced SIZE: refused locally', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { size: 50 } });
  const s = await session(t, open);
  const report = await s.send(message(['a@example.test']));
  t.match(report.recipients, [{ ok: false, permanentLocal: true, localReason: 'size', error: { message: /SIZE/ } }]);
  t.equal(mx1!.messages.length, 0);
});

t.test('static route to a smarthost port', async (t) => {
  const mx = await startMx({ host: '127.0.0.3' });
  t.teardown(() => mx.close());
  const { open } = await setup(t, { mx1: null, routes: { '*': { host: `127.0.0.3:${mx.port}`, auth: null, requireTls: false, implicitTls: false } } });
  const res = await open('anywhere.test');
  if (!res.ok) throw t.fail(res.error.message);
  t.teardown(() => res.session.close());
  t.match(res.tries, [{ host: '127.0.0.3', port: mx.port, preference: null, result: 'connected' }]);
  await res.session.send(message(['z@anywhere.test']));
  t.equal(mx.messages.length, 1);
});

t.test('route failures come back as facts', async (t) => {
  const { open } = await setup(t);
  const res = await open('does-not-exist.test');
  t.match(res, { ok: false, permanent: true, reason: 'nxdomain', error: { kind: 'dns' } });
});

t.test('an aborted signal stops the session setup', async (t) => {
  const { open, mx1 } = await setup(t, { mx1: { raw: true, script: { greeting: 'stall' } } });
  const ac = new AbortController();
  const p = open('example.test', ac.signal);
  // Abort once the MX holds the connection (its greeting stalls), not after a fixed 50 ms: on a
  // busy machine the MX lookup could still be under way then, and the abort landed elsewhere.
  await waitFor(() => mx1!.connections >= 1, 60_000, 'the connection to the stalling MX');
  ac.abort();
  const res = await p;
  t.match(res, { ok: false });
  t.match(res.tries[0], { result: 'connect_failed', error: { kind: 'local', message: 'aborted' } });
});

t.test('a slow final reply is bounded by the data timeout, not the command timeout', async (t) => {
  // The final reply comes later than the command timeout allows and well within the data
  // timeout; the other steps have seconds (a loaded machine answers EHLO slowly too).
  const mx = await startMx({ host: '127.0.0.2', script: { dataDelayMs: 5000 } });
  t.teardown(() => mx.close());
  const c = await connectSmtp({
    host: 'mx1.example.test',
    ip: '127.0.0.2',
    port: mx.port,
    hostname: 'relay.ferry.test',
    tls: { required: false, implicit: false },
    auth: null,
    timeouts: { connectTimeoutMs: 10_000, greetingTimeoutMs: 10_000, commandTimeoutMs: 3000, dataTimeoutMs: 30_000 },
    clock: systemClock,
  });
  if (!c.ok) throw t.fail(c.error.message);
  t.teardown(() => c.client.close());
  const report = await c.client.send(message(['a@example.test']));
  t.match(report.recipients, [{ ok: true }]);
  t.equal(report.sessionUsable, true);
});

t.test('static route with AUTH: login before sending; bad credentials recorded as auth_failed', async (t) => {
  const mx = await startMx({ host: '127.0.0.3', auth: { user: 'ferry', pass: 'secret' } });
  t.teardown(() => mx.close());
  const route = (pass: string): Record<string, StaticRoute> => ({
    'smart.test': { host: `127.0.0.3:${mx.port}`, auth: { user: 'ferry', pass }, requireTls: 'encrypt-only', implicitTls: false },
  });
  const good = await setup(t, { mx1: null, routes: route('secret') });
  const res = await good.open('smart.test');
  if (!res.ok) throw t.fail(res.error.message);
  t.teardown(() => res.session.close());
  t.match(await res.session.send(message(['a@smart.test'])), { recipients: [{ ok: true }] });
  t.equal(mx.messages.length, 1);

  const bad = await setup(t, { mx1: null, routes: route('wrong') });
  const failed = await bad.open('smart.test');
  t.match(failed, { ok: false, reason: 'all_hops_failed', tries: [{ result: 'auth_failed', reply: { code: 535, enhanced: '5.7.8' } }] });
});

t.test('implicit TLS route (port 465 style)', async (t) => {
  const mx = await startMx({ host: '127.0.0.3', secure: true });
  t.teardown(() => mx.close());
  const { open } = await setup(t, { mx1: null, routes: { 'tls.test': { host: `127.0.0.3:${mx.port}`, auth: null, requireTls: 'encrypt-only', implicitTls: true } } });
  const res = await open('tls.test');
  if (!res.ok) throw t.fail(res.error.message);
  t.teardown(() => res.session.close());
  t.match(res.session.tls, { protocol: /TLS/ });
  await res.session.send(message(['a@tls.test']));
  t.equal(mx.messages[0]!.tls, true);
});

t.test('multi-line replies in raw mode record the EHLO name too', async (t) => {
  const { mx1, open } = await setup(t, { mx1: { raw: true } });
  const s = await session(t, open);
  await s.send(message(['a@example.test']));
  t.equal(mx1!.messages[0]!.helo, 'relay.ferry.test');
  t.equal(mx1!.messages[0]!.raw.toString('latin1'), BODY.toString('latin1'), 'raw server un-stuffs dots too');
});

if (thread) {
  t.test('these sessions ran on the delivery thread', async (t) => {
    t.ok(thread.started >= 1);
  });
}
