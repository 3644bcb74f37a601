import t from 'tap';
import nodemailer from 'nodemailer';
import { addUser, messageCount, queuedId, startRelay, storedMessage } from '../helpers/relay.js';
import { rawSession } from '../helpers/raw-smtp.js';

type SendError = { responseCode?: number; response?: string; command?: string };

function transport(port: number, auth?: { user: string; pass: string }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    localAddress: '127.0.0.1',
    tls: { rejectUnauthorized: false },
    auth,
    connectionTimeout: 5000,
    socketTimeout: 10000,
  });
}

const MAIL = { from: 'app@example.com', to: 'someone@example.net', subject: 'hi', text: 'body' };

t.test('unauthenticated client from an allowed network (default loopback) may relay', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const tr = transport(smtpPort);
  const info = await tr.sendMail(MAIL);
  tr.close();
  const id = queuedId(info.response);
  const row = ferry.queue.messages.get(id)!;
  t.equal(row.username, null, 'no user');
  t.equal(row.clientIp, '127.0.0.1');
  t.equal(row.sender, 'app@example.com');
  // nodemailer upgrades with STARTTLS when offered: ESMTPS, and no A since there was no AUTH.
  t.match((await storedMessage(ferry, id)).toString('latin1'), new RegExp(`with ESMTPS \\(TLSv1\\.[23]\\) id ${id}`), 'Received says ESMTPS without A');
});

t.test('unauthenticated client from outside relayNetworks gets 530 5.7.0 at MAIL FROM', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, { smtp: { relayNetworks: ['10.0.0.0/8'] } });
  const tr = transport(smtpPort);
  const err = await tr.sendMail(MAIL).then(() => null, (e: SendError) => e);
  tr.close();
  t.ok(err, 'refused');
  t.equal(err!.responseCode, 530);
  t.equal(err!.command, 'MAIL FROM');
  t.equal(err!.response, '530 5.7.0 Authentication required', 'one enhanced code, not doubled');
  t.equal(messageCount(ferry), 0);

  // The same client with AUTH may relay (AUTH in clear text is allowed from loopback).
  await addUser(ferry, 'app', 'correct horse battery');
  const authed = transport(smtpPort, { user: 'app', pass: 'correct horse battery' });
  const info = await authed.sendMail(MAIL);
  authed.close();
  t.equal(ferry.queue.messages.get(queuedId(info.response))!.username, 'app');
});

t.test('a user limited to sender domains: MAIL FROM outside them is 550 5.7.1', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  await addUser(ferry, 'app', 'correct horse battery', ['example.com']);
  const tr = transport(smtpPort, { user: 'app', pass: 'correct horse battery' });
  t.teardown(() => tr.close());

  const err = await tr
    .sendMail({ ...MAIL, envelope: { from: 'ceo@other.org', to: 'someone@example.net' } })
    .then(() => null, (e: SendError) => e);
  t.equal(err?.responseCode, 550);
  t.equal(err!.command, 'MAIL FROM');
  t.equal(err!.response, '550 5.7.1 Sender domain other.org is not allowed for user app');

  // A subdomain of an allowed domain is allowed.
  const ok = await tr.sendMail({ ...MAIL, from: 'news@mail.example.com' });
  t.ok(queuedId(ok.response));
  t.equal(messageCount(ferry), 1);
});

t.test('a user limited to sender domains: From header outside them is 550 5.7.1 at end of DATA', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  await addUser(ferry, 'app', 'correct horse battery', ['example.com']);
  const tr = transport(smtpPort, { user: 'app', pass: 'correct horse battery' });
  t.teardown(() => tr.close());

  const err = await tr
    .sendMail({ from: 'boss@yahoo.com', to: 'someone@example.net', text: 'x', envelope: { from: 'bounce@example.com', to: 'someone@example.net' } })
    .then(() => null, (e: SendError) => e);
  t.equal(err?.responseCode, 550);
  t.equal(err!.command, 'DATA');
  t.equal(err!.response, '550 5.7.1 From header domain yahoo.com is not allowed for user app');
  t.equal(messageCount(ferry), 0, 'nothing queued');
  t.same(ferry.spool.list(), [], 'nothing left in the spool');
});

t.test('two From headers are refused for a restricted user', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  await addUser(ferry, 'app', 'correct horse battery', ['example.com']);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command(`AUTH PLAIN ${Buffer.from('\0app\0correct horse battery').toString('base64')}`), /^235 /);
  t.match(await c.command('MAIL FROM:<a@example.com>'), /^250 /);
  t.match(await c.command('RCPT TO:<b@example.net>'), /^250 /);
  t.match(await c.command('DATA'), /^354 /);
  await c.write('From: a@example.com\r\nFrom: evil@yahoo.com\r\nSubject: x\r\n\r\nbody\r\n.\r\n');
  t.equal(await c.reply(), '550 5.7.1 More than one From header is not allowed');
  t.equal(messageCount(ferry), 0);
});

t.test('an unrestricted user may use any sender domain', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  await addUser(ferry, 'any', 'correct horse battery');
  const tr = transport(smtpPort, { user: 'any', pass: 'correct horse battery' });
  const info = await tr.sendMail({ ...MAIL, from: 'x@whatever.org' });
  tr.close();
  t.equal(ferry.queue.messages.get(queuedId(info.response))!.headerFrom, 'x@whatever.org');
});
