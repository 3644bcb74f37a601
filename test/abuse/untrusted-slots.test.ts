import t from 'tap';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { ManualClock } from '../../src/core/clock.js';
import { addUser, messageCount } from '../helpers/relay.js';
import { attack, attackSession, sleep, startAbuseRelay } from './fixtures/harness.js';

// Finding 5: 200 idle connections from each of 10 addresses filled the global limit, and
// relay-network and authenticated clients were refused with 421. Here only 127.0.0.1 is a
// relay network: every other 127.x address plays a remote client.

interface Held {
  socket: net.Socket;
  first: string | null;
  closed: boolean;
}

function hold(port: number, from: string): Promise<Held> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    const h: Held = { socket, first: null, closed: false };
    socket.on('error', () => undefined);
    socket.once('data', (d: Buffer) => {
      h.first = d.toString('latin1').slice(0, 3);
      resolve(h);
    });
    socket.once('close', () => {
      h.closed = true;
      resolve(h);
    });
  });
}

t.test('1,100 hostile idle connections: relay-network and authenticated clients are still served', async (t) => {
  const maxClients = 1200;
  const reservedClients = 100;
  const relay = await startAbuseRelay(t, {
    maxClients,
    maxClientsPerIp: 1000,
    relayNetworks: ['127.0.0.1/32'],
    untrusted: { reservedClients, maxPerNetwork: 275, authTimeoutMs: 120_000, greetingDelayMs: 0 },
  });
  await addUser(relay.ferry, 'app', 'the right password');
  const held: Held[] = [];
  // 1,100 from 40 addresses in 4 networks (275 per /24, the cap), in batches.
  const froms = Array.from({ length: 1100 }, (_, i) => `127.0.${1 + (i % 4)}.${1 + (Math.floor(i / 4) % 10)}`);
  for (let i = 0; i < froms.length; i += 100) held.push(...(await Promise.all(froms.slice(i, i + 100).map((f) => hold(relay.smtpPort, f)))));
  const greeted = held.filter((h) => h.first === '220').length;
  t.comment(`hostile connections: ${greeted} greeted of ${held.length}`);
  t.equal(greeted, 1100, 'the untrusted share (maxClients − reservedClients) holds them all');

  // The per-network cap.
  const capped = await attack(relay.smtpPort, '127.0.1.99');
  t.match(await capped.reply(), /^421 4\.7\.0 Too many unauthenticated connections from your network/, 'a 276th session from one /24 is refused');
  capped.close();

  // A fifth network: each newcomer pushes out the oldest idle unauthenticated session.
  const more = await Promise.all(Array.from({ length: 50 }, (_, i) => hold(relay.smtpPort, `127.0.5.${1 + (i % 10)}`)));
  t.equal(more.filter((h) => h.first === '220').length, 50, 'newcomers are greeted');
  await sleep(300);
  const open = [...held, ...more].filter((h) => !h.closed).length;
  t.ok(open <= maxClients - reservedClients, `untrusted sessions never exceed maxClients − reservedClients (${open} open)`);

  // The relay-network application and an authenticated user both get through, several times.
  for (let i = 0; i < 3; i++) {
    const app = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.0.1', ignoreTLS: true, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
    const info = await app.sendMail({ from: 'app@client.test', to: `a${i}@dest.test`, subject: 'relay', text: 'hi' });
    app.close();
    t.match(info.response, /^250 /, `relay-network client served (${i + 1})`);
    const user = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.9.1', ignoreTLS: true, auth: { user: 'app', pass: 'the right password' }, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
    const info2 = await user.sendMail({ from: 'app@client.test', to: `u${i}@dest.test`, subject: 'auth', text: 'hi' });
    user.close();
    t.match(info2.response, /^250 /, `authenticated client served (${i + 1})`);
  }
  t.equal(messageCount(relay.ferry), 6);
  for (const h of [...held, ...more]) h.socket.destroy();
});

t.test('an authenticated session leaves the untrusted share; the oldest idle unauthenticated one makes room', async (t) => {
  const relay = await startAbuseRelay(t, {
    maxClients: 6,
    relayNetworks: ['127.0.0.1/32'],
    untrusted: { reservedClients: 3, maxPerNetwork: 10, greetingDelayMs: 0 },
  });
  await addUser(relay.ferry, 'app', 'the right password');
  const plain = `AUTH PLAIN ${Buffer.from('\0app\0the right password').toString('base64')}`;
  const user = await attackSession(relay.smtpPort, '127.0.2.1');
  t.match(await user.command(plain), /^235 /);
  // The untrusted share (3) is free again: three idle sessions fit, the fourth pushes out the first.
  const idle = await Promise.all([1, 2, 3].map((i) => hold(relay.smtpPort, `127.0.3.${i}`)));
  t.same(idle.map((h) => h.first), ['220', '220', '220']);
  const newcomer = await hold(relay.smtpPort, '127.0.3.4');
  t.equal(newcomer.first, '220');
  for (let i = 0; i < 50 && !idle[0]!.closed; i++) await sleep(20);
  t.ok(idle[0]!.closed, 'the oldest idle unauthenticated session made room');
  t.notOk(user.isClosed(), 'the authenticated session was not touched');
  t.match(await user.command('NOOP'), /^250 /);
  user.close();
  for (const h of [...idle, newcomer]) h.socket.destroy();
});

t.test('unauthenticated clients outside the relay networks must authenticate within authTimeoutMs', async (t) => {
  const clock = new ManualClock(Date.now());
  const relay = await startAbuseRelay(t, { relayNetworks: ['127.0.0.1/32'], untrusted: { authTimeoutMs: 30_000, greetingDelayMs: 0 } }, {}, { clock });
  await addUser(relay.ferry, 'app', 'the right password');
  const idle = await attackSession(relay.smtpPort, '127.0.0.7');
  const authed = await attackSession(relay.smtpPort, '127.0.0.8');
  t.match(await authed.command(`AUTH PLAIN ${Buffer.from('\0app\0the right password').toString('base64')}`), /^235 /);
  const trusted = await attackSession(relay.smtpPort, '127.0.0.1');
  t.match(await idle.command('MAIL FROM:<x@client.test>'), /^530 /, 'unauthenticated: no MAIL');
  clock.advance(29_999);
  t.match(await idle.command('NOOP'), /^250 /, 'still open just before the deadline');
  clock.advance(1);
  t.match(await idle.reply(3000), /^421 4\.4\.2 No authentication within 30 s/);
  await idle.closed;
  t.pass('closed');
  t.match(await authed.command('NOOP'), /^250 /, 'the authenticated session stays');
  t.match(await trusted.command('NOOP'), /^250 /, 'the relay-network session stays');
  authed.close();
  trusted.close();
});
