import t from 'tap';
import nodemailer from 'nodemailer';
import { ManualClock } from '../../src/core/clock.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { acceptedRecipients, addUser, queuedId, startRelay, storedMessage } from '../helpers/relay.js';

const MAIL = {
  from: 'app@example.com',
  to: 'someone@example.net',
  subject: 'hello',
  text: 'Hi there',
};

function transport(port: number, opts: { secure?: boolean; requireTLS?: boolean; auth?: { user: string; pass: string } }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: opts.secure ?? false,
    requireTLS: opts.requireTLS ?? false,
    ignoreTLS: false,
    tls: { rejectUnauthorized: false },
    auth: opts.auth,
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10000,
  });
}

t.test('AUTH over STARTTLS and over implicit TLS', async (t) => {
  const { ferry, smtpPort, smtpsPort } = await startRelay(t, { smtp: { tlsListen: '127.0.0.1:0' } });
  await addUser(ferry, 'app', 'correct horse battery', ['example.com']);
  t.ok(smtpsPort, 'implicit TLS listener bound');

  const starttls = transport(smtpPort, { requireTLS: true, auth: { user: 'app', pass: 'correct horse battery' } });
  const info1 = await starttls.sendMail(MAIL);
  starttls.close();
  const id1 = queuedId(info1.response);
  const row1 = ferry.queue.messages.get(id1)!;
  t.equal(row1.username, 'app', 'the message records the authenticated user');
  t.match(row1.tls, /^TLS/, 'the message records the TLS version');
  const stored1 = (await storedMessage(ferry, id1)).toString('latin1');
  t.match(stored1, /^Received: from [^\r]*\r\n\tby ferry\.test \(Ferry\) with ESMTPSA \(TLS/, 'Received names ESMTPSA');
  t.same(acceptedRecipients(ferry, id1), [['someone@example.net', 'queued']]);

  const implicit = transport(smtpsPort!, { secure: true, auth: { user: 'app', pass: 'correct horse battery' } });
  const info2 = await implicit.sendMail(MAIL);
  implicit.close();
  const id2 = queuedId(info2.response);
  t.not(id2, id1);
  t.equal(ferry.queue.messages.get(id2)!.username, 'app');
  t.match((await storedMessage(ferry, id2)).toString('latin1'), /with ESMTPSA \(TLS/);
});

t.test('wrong password is 535 5.7.8 and nothing is queued', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  await addUser(ferry, 'app', 'correct horse battery');
  const tr = transport(smtpPort, { requireTLS: true, auth: { user: 'app', pass: 'wrong' } });
  const err = await tr.sendMail(MAIL).then(() => null, (e: { responseCode?: number; response?: string }) => e);
  tr.close();
  t.ok(err, 'sending fails');
  t.equal(err!.responseCode, 535);
  t.match(err!.response, /^535 5\.7\.8 Authentication credentials invalid$/);
  t.equal(ferry.queue.messages.list({ limit: 10 }).length, 0);
});

t.test('unknown user gets the same 535 as a wrong password', async (t) => {
  const { smtpPort } = await startRelay(t);
  const tr = transport(smtpPort, { requireTLS: true, auth: { user: 'nobody', pass: 'whatever' } });
  const err = await tr.sendMail(MAIL).then(() => null, (e: { responseCode?: number; response?: string }) => e);
  tr.close();
  t.equal(err?.responseCode, 535);
  t.match(err!.response, /^535 5\.7\.8 /);
});

t.test('AUTH brute force: after 5 failures AUTH gets 454 and stays refused; the connection is not', async (t) => {
  const clock = new ManualClock(Date.now());
  const { ferry, smtpPort } = await startRelay(t, {}, { clock });
  await addUser(ferry, 'app', 'correct horse battery');
  const plain = (user: string, pass: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`;

  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  for (let i = 1; i <= 5; i++) {
    t.match(await c.command(plain('app', `guess-${i}`)), /^535 5\.7\.8 /, `failure ${i} is 535`);
  }
  t.match(await c.command(plain('app', 'correct horse battery')), /^454 4\.7\.0 Too many failed authentication attempts from your address/, 'then AUTH is refused, even with the right password');
  t.match(await c.command('NOOP'), /^250 /, 'the session itself goes on');

  // A new connection from the same IP is greeted (it may relay from the relay networks), but AUTH stays refused.
  const again = await rawSession(smtpPort);
  t.teardown(() => again.close());
  t.match(await again.command(plain('app', 'correct horse battery')), /^454 4\.7\.0 /, 'locked out of AUTH on a new connection');

  // The right password does not help while locked out (nodemailer gets the 454).
  const tr = transport(smtpPort, { auth: { user: 'app', pass: 'correct horse battery' } });
  const err = await tr.sendMail(MAIL).then(() => null, (e: { responseCode?: number; response?: string }) => e);
  tr.close();
  t.equal(err?.responseCode, 454, 'correct password refused during the lockout');
  t.equal(ferry.queue.messages.list({ limit: 10 }).length, 0);

  // After the cool-down the IP may try again.
  clock.advance(ferry.config.smtp.authFailures.lockoutMs + 1);
  const after = await rawSession(smtpPort);
  t.teardown(() => after.close());
  t.match(await after.command(plain('app', 'correct horse battery')), /^235 /, 'accepted after the lockout ends');
  await after.command('QUIT');
});

t.test('failures spread beyond the window do not lock the IP out', async (t) => {
  const clock = new ManualClock(Date.now());
  const { ferry, smtpPort } = await startRelay(t, {}, { clock });
  await addUser(ferry, 'app', 'correct horse battery');
  const plain = (pass: string) => `AUTH PLAIN ${Buffer.from(`\0app\0${pass}`).toString('base64')}`;
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  for (let i = 1; i <= 8; i++) {
    t.match(await c.command(plain(`guess-${i}`)), /^535 /, `failure ${i} is 535 (window slides)`);
    clock.advance(ferry.config.smtp.authFailures.windowMs / 4 + 1);
  }
  t.match(await c.command(plain('correct horse battery')), /^235 /);
});
