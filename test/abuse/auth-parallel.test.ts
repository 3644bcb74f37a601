import t from 'tap';
import nodemailer from 'nodemailer';
import { createLogger } from '../../src/core/logger.js';
import { verifyPassword } from '../../src/policy/passwords.js';
import { addUser, messageCount } from '../helpers/relay.js';
import { attackSession, startAbuseRelay } from './fixtures/harness.js';

const plain = (user: string, pass: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`;

/** The real scrypt check, counted: what a guesser actually gets. */
function countingVerifier() {
  const c = {
    calls: 0,
    verify: (password: string, stored: string) => {
      c.calls++;
      return verifyPassword(password, stored);
    },
  };
  return c;
}

/** Every session tries `tries` wrong passwords one after another, all sessions at once. */
async function parallelGuesses(port: number, froms: string[], tries: number, user = (i: number) => 'app'): Promise<string[]> {
  const sessions = await Promise.all(froms.map((from) => attackSession(port, from)));
  const replies = await Promise.all(
    sessions.map(async (s, i) => {
      const out: string[] = [];
      for (let k = 0; k < tries; k++) out.push(await s.command(plain(user(i), `guess-${i}-${k}`), 30_000).catch((e: Error) => `error ${e.message}`));
      s.close();
      return out;
    }),
  );
  return replies.flat();
}

function tally(replies: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) out[r.slice(0, 9)] = (out[r.slice(0, 9)] ?? 0) + 1;
  return out;
}

const AUTH_FAILURES = { max: 5, maxPerNetwork: 8, maxPerUser: 1000, maxConcurrentPerClient: 2, windowMs: 60_000, lockoutMs: 60_000 };

// Finding 3: the lockout was checked before the asynchronous scrypt check and a failure counted
// after it, so 60 parallel sessions got 48 password checks against a limit of 5; and the count
// was per exact address, so the next address had a fresh budget.
t.test('60 parallel sessions: at most the configured password checks per host, per /24 and per user', async (t) => {
  const counter = countingVerifier();
  const relay = await startAbuseRelay(t, { authFailures: AUTH_FAILURES, maxClientsPerIp: 500 }, {}, { verifyPassword: counter.verify });
  await addUser(relay.ferry, 'app', 'the right password');

  const one = await parallelGuesses(relay.smtpPort, Array.from({ length: 60 }, () => '127.0.0.5'), 3);
  t.comment(`one address, 60 sessions × 3 guesses: ${counter.calls} password checks; replies ${JSON.stringify(tally(one))}`);
  t.ok(counter.calls >= 1 && counter.calls <= AUTH_FAILURES.max, `at most max (${AUTH_FAILURES.max}) checks from one address: ${counter.calls}`);
  t.equal(one.filter((r) => r.startsWith('535 5.7.8')).length, counter.calls, 'every check that ran is one 535');
  t.equal(one.filter((r) => r.startsWith('454 4.7.0')).length, one.length - counter.calls, 'every other attempt is refused with 454 4.7.0, unchecked');

  counter.calls = 0;
  const spread = await parallelGuesses(relay.smtpPort, Array.from({ length: 60 }, (_, i) => `127.0.1.${i + 1}`), 2);
  t.comment(`60 addresses of one /24 × 2 guesses: ${counter.calls} password checks; replies ${JSON.stringify(tally(spread))}`);
  t.ok(counter.calls >= 1 && counter.calls <= AUTH_FAILURES.maxPerNetwork, `at most maxPerNetwork (${AUTH_FAILURES.maxPerNetwork}) checks from one /24: ${counter.calls}`);
  t.equal(spread.filter((r) => r.startsWith('535')).length, counter.calls);
  t.ok(spread.some((r) => /^454 4\.7\.0 Too many failed authentication attempts from your network/.test(r)), 'the /24 is told it is locked');
});

t.test('one username guessed from many networks: at most maxPerUser checks', async (t) => {
  const counter = countingVerifier();
  const relay = await startAbuseRelay(t, { authFailures: { ...AUTH_FAILURES, maxPerUser: 6 } }, {}, { verifyPassword: counter.verify });
  await addUser(relay.ferry, 'boss', 'the right password');
  const replies = await parallelGuesses(relay.smtpPort, Array.from({ length: 20 }, (_, i) => `127.0.${10 + i}.1`), 2, () => 'boss');
  t.comment(`20 networks × 2 guesses at one user: ${counter.calls} password checks; replies ${JSON.stringify(tally(replies))}`);
  t.ok(counter.calls >= 1 && counter.calls <= 6, `at most 6 checks: ${counter.calls}`);
  t.ok(replies.some((r) => /^454 4\.7\.0 .*for this user/.test(r)), 'the user is locked');
  const other = await attackSession(relay.smtpPort, '127.0.40.1');
  await addUser(relay.ferry, 'other', 'pw of other');
  t.match(await other.command(plain('other', 'pw of other')), /^235 /, 'another user still authenticates from a fresh network');
  other.close();
});

// Finding 4: after 5 bad AUTH attempts from 127.0.0.1 every new connection from it got 421 for
// 5 minutes, including applications relaying without AUTH from the relay networks.
t.test('relaying from the relay networks keeps working while the same address is locked out of AUTH', async (t) => {
  const relay = await startAbuseRelay(t, { authFailures: { ...AUTH_FAILURES, max: 3 } });
  await addUser(relay.ferry, 'app', 'the right password');
  const a = await attackSession(relay.smtpPort, '127.0.0.1');
  for (let i = 0; i < 3; i++) t.match(await a.command(plain('app', `wrong-${i}`)), /^535 /);
  t.match(await a.command(plain('app', 'the right password')), /^454 4\.7\.0 Too many failed authentication attempts from your address/, 'locked out of AUTH');
  a.close();

  const app = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.0.1', ignoreTLS: true, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
  for (let i = 0; i < 3; i++) {
    const info = await app.sendMail({ from: 'app@client.test', to: `r${i}@dest.test`, subject: 'relay', text: 'hi' });
    t.match(info.response, /^250 2\.0\.0 Ok: queued as /, `relay-network mail ${i + 1} from the locked address is accepted`);
  }
  app.close();
  t.equal(messageCount(relay.ferry), 3);

  const authed = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.9.1', ignoreTLS: true, auth: { user: 'app', pass: 'the right password' } });
  const info = await authed.sendMail({ from: 'app@client.test', to: 'x@dest.test', subject: 'auth', text: 'hi' });
  authed.close();
  t.match(info.response, /^250 /, 'the user authenticates from another network');
});

// Finding 6: a remote client without TLS was offered AUTH PLAIN LOGIN; Ferry read the username
// and password and only then refused with 538. 127.0.0.2 plays the remote client: only
// 127.0.0.1 may authenticate in clear here.
t.test('no AUTH before STARTTLS outside insecureAuthNetworks: not offered, refused before any credential', async (t) => {
  const counter = countingVerifier();
  const relay = await startAbuseRelay(t, { insecureAuthNetworks: ['127.0.0.1/32'], relayNetworks: ['127.0.0.1/32'] }, {}, { verifyPassword: counter.verify });
  await addUser(relay.ferry, 'app', 'the right password');

  const remote = await attackSession(relay.smtpPort, '127.0.0.2');
  const ehlo = await remote.command('EHLO remote.test');
  t.notMatch(ehlo, /AUTH/, 'EHLO in clear does not offer AUTH');
  t.match(ehlo, /STARTTLS/, 'it offers STARTTLS');
  t.match(await remote.command('AUTH LOGIN'), /^538 5\.7\.11 Encryption required/, 'AUTH LOGIN: 538 without asking for a username');
  t.match(await remote.command(plain('app', 'the right password')), /^538 5\.7\.11 /, 'AUTH PLAIN: 538');
  t.match(await remote.command('NOOP'), /^250 /, 'no credential exchange is in progress');
  remote.close();
  t.equal(counter.calls, 0, 'no password was checked');

  const clear = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.0.2', ignoreTLS: true, auth: { user: 'app', pass: 'the right password' } });
  await t.rejects(clear.sendMail({ from: 'app@client.test', to: 'x@dest.test', text: 'x' }), { responseCode: 530 }, 'a client that will not use STARTTLS cannot authenticate, so cannot send');
  clear.close();
  t.equal(counter.calls, 0, 'still no password checked');

  const secured = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, localAddress: '127.0.0.2', requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'app', pass: 'the right password' } });
  const info = await secured.sendMail({ from: 'app@client.test', to: 'x@dest.test', subject: 's', text: 'x' });
  secured.close();
  t.match(info.response, /^250 /, 'after STARTTLS AUTH is offered and works');
  t.equal(counter.calls, 1);

  const local = await attackSession(relay.smtpPort, '127.0.0.1');
  t.match(await local.command('EHLO local.test'), /AUTH PLAIN LOGIN/, 'a client in insecureAuthNetworks is offered AUTH in clear');
  t.match(await local.command(plain('app', 'the right password')), /^235 /);
  local.close();
});

t.test('insecureAuthNetworks beyond loopback is warned about at start', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('warn', { write: (l: string) => void lines.push(l) });
  await startAbuseRelay(t, { insecureAuthNetworks: ['127.0.0.0/8', '0.0.0.0/0'] }, {}, { logger });
  const warning = lines.map((l) => JSON.parse(l) as { msg: string; insecureAuthNetworks?: string[] }).find((l) => /without TLS/.test(l.msg));
  t.ok(warning, 'a warning names the setting');
  t.same(warning?.insecureAuthNetworks, ['0.0.0.0/0'], 'only the ranges beyond loopback');
});

t.test('a password check that fails locally answers 454 and does not count as a guess', async (t) => {
  let broken = true;
  const relay = await startAbuseRelay(t, { authFailures: { ...AUTH_FAILURES, max: 2 } }, {}, {
    verifyPassword: (password, stored) => (broken ? Promise.reject(new Error('disk on fire')) : verifyPassword(password, stored)),
  });
  await addUser(relay.ferry, 'app', 'the right password');
  const s = await attackSession(relay.smtpPort, '127.0.0.4');
  for (let i = 0; i < 4; i++) t.match(await s.command(plain('app', 'the right password')), /^454 4\.7\.0 Temporary authentication failure/);
  broken = false;
  t.match(await s.command(plain('app', 'the right password')), /^235 /, 'four local failures did not lock the address (max 2)');
  s.close();
});
