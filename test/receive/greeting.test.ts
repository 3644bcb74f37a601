import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createBounceListener } from '../../src/bounce/listener.js';
import { silentLogger } from '../../src/core/logger.js';
import { SMTP_SERVER_VERSION, installSmtpServerPatches, smtpServerShapeProblems } from '../../src/receive/smtp-server-patch.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { startRelay } from '../helpers/relay.js';

const root = new URL('../../', import.meta.url).pathname;

// The adapter reaches into smtp-server's internals (its greeting pause, its reply writer, its
// per-session command list). If the library changes, this must fail here, loudly, rather than
// Ferry silently greeting late or offering AUTH in clear.
t.test('smtp-server still has the shape the adapter patches, at the exact pinned version', async (t) => {
  t.same(smtpServerShapeProblems(), [], 'no shape problems');
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { dependencies: Record<string, string> };
  t.equal(pkg.dependencies['smtp-server'], SMTP_SERVER_VERSION, 'package.json pins exactly the version the adapter was written for');
  t.doesNotThrow(() => installSmtpServerPatches(), 'installs');
  t.doesNotThrow(() => installSmtpServerPatches(), 'twice is harmless');
});

/** Connects from `from`, optionally talks at once, and returns the first reply line and how long it took. */
function firstReply(port: number, from: string, talkFirst = false): Promise<{ line: string; ms: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    socket.setNoDelay(true);
    socket.on('error', reject);
    if (talkFirst) socket.once('connect', () => socket.write('EHLO early.test\r\n'));
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n');
      if (i >= 0 && buf.length) {
        socket.removeAllListeners('data');
        resolve({ line: buf.slice(0, i), ms: performance.now() - started, socket });
      }
    });
  });
}

async function medianGreeting(port: number, from: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const r = await firstReply(port, from);
    r.socket.destroy();
    if (!r.line.startsWith('220')) throw new Error(r.line);
    times.push(r.ms);
  }
  return times.sort((a, b) => a - b)[3]!;
}

// Issue 13: smtp-server waited a hard-coded 100 ms before every greeting. A relay-network
// application gains nothing from early-talker detection; clients outside the relay networks
// (and the bounce listener) keep a pause, and a client that talks first is still refused.
t.test('relay-network clients are greeted at once; others keep the early-talker pause', async (t) => {
  const relay = await startRelay(t, { smtp: { relayNetworks: ['127.0.0.1/32'] } });
  const trusted = await medianGreeting(relay.smtpPort, '127.0.0.1');
  t.comment(`relay-network client: 220 after ${trusted.toFixed(1)} ms (median of 7)`);

  const untrusted = await medianGreeting(relay.smtpPort, '127.0.0.3');
  t.comment(`client outside the relay networks: 220 after ${untrusted.toFixed(1)} ms (median of 7)`);
  t.ok(untrusted >= 95, 'outside the relay networks the pause stays (smtp.untrusted.greetingDelayMs, 100 ms)');
  // Lower bounds only: a loaded machine slows every greeting (an unpaused one took 96 ms under
  // load 40), so "at once" is shown by behaviour instead: a client that talks first is greeted
  // (below), which it would not be with a pause (it is refused as an early talker).

  const early = await firstReply(relay.smtpPort, '127.0.0.3', true);
  t.match(early.line, /^421 .*You talk too soon/, 'an early talker outside the relay networks is refused');
  early.socket.destroy();

  const eager = await firstReply(relay.smtpPort, '127.0.0.1', true);
  t.match(eager.line, /^220 /, 'a relay-network client that writes at once is greeted');
  eager.socket.destroy();
});

t.test('the pause is a setting: greetingDelayMs for relay networks', async (t) => {
  const relay = await startRelay(t, { smtp: { greetingDelayMs: 150, untrusted: { greetingDelayMs: 0 }, relayNetworks: ['127.0.0.1/32'] } });
  const early = await firstReply(relay.smtpPort, '127.0.0.1', true);
  t.match(early.line, /^421 .*You talk too soon/, 'with a pause, relay-network early talkers are refused too');
  early.socket.destroy();
  const paused = await medianGreeting(relay.smtpPort, '127.0.0.1');
  t.ok(paused >= 145, `relay networks wait the 150 ms (${paused.toFixed(1)} ms)`);
  // "At once" by behaviour, not by a time a loaded machine could miss: an early talker is greeted.
  const eager = await firstReply(relay.smtpPort, '127.0.0.3', true);
  t.match(eager.line, /^220 /, 'and untrusted clients may be greeted at once (an early talker is greeted)');
  eager.socket.destroy();
  t.comment(`untrusted client: 220 after ${(await medianGreeting(relay.smtpPort, '127.0.0.3')).toFixed(1)} ms (median of 7)`);
});

t.test('the bounce listener keeps its early-talker pause (bounceListener.greetingDelayMs)', async (t) => {
  for (const [delay, talker] of [[100, /^421 .*You talk too soon/], [0, /^220 /]] as const) {
    const listener = createBounceListener({
      options: { listen: '127.0.0.1:0', hostname: 'bounce.test', parseMaxBytes: 1024, maxClients: 10, idleTimeoutMs: 5000, greetingDelayMs: delay },
      isBounceDomain: (d) => d === 'bounces.test',
      processor: { process: async () => [] } as never,
      logger: silentLogger(),
    });
    const port = Number((await listener.start()).split(':').pop());
    const early = await firstReply(port, '127.0.0.1', true);
    t.match(early.line, talker, `greetingDelayMs ${delay}: ${early.line}`);
    early.socket.destroy();
    await listener.stop();
  }
});

// Finding 7a: an 8-bit MAIL FROM was accepted without SMTPUTF8 (only RCPT was checked).
t.test('an 8-bit MAIL FROM needs the SMTPUTF8 parameter', async (t) => {
  const relay = await startRelay(t);
  const c = await rawSession(relay.smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<jörg@example.com>'), /^553 5\.6\.7 Non-ASCII sender address requires the SMTPUTF8 parameter/);
  t.match(await c.command('MAIL FROM:<app@exämple.com>'), /^553 5\.6\.7 /, 'an 8-bit domain too');
  t.match(await c.command('MAIL FROM:<jörg@example.com> SMTPUTF8'), /^250 /, 'with SMTPUTF8 it is accepted');
  await c.command('RSET');
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250 /, 'ASCII needs nothing');
});
