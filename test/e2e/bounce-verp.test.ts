import t from 'tap';
import { startRelay, queuedId } from '../helpers/relay.js';
import { mx, parse, sendRaw, submit, waitFor } from '../helpers/bounce.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { createVerp } from '../../src/bounce/verp.js';
import { arfComplaint, exchangeNdr, postfixBounce } from '../bounce/fixtures/reports.js';
import type { Ferry } from '../../src/main.js';
import { runFerry } from '../helpers/cli.js';

const VERP = { enabled: true, domain: 'bounce.ferry.test', secret: 'e2e-verp-secret-0123456789' };

async function setup(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const relay = await startRelay(t, {
    dmarc: { mode: 'off' },
    verp: VERP,
    bounceListener: { listen: '127.0.0.1:0' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'contoso.test': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const started = relay.ferry.addresses as unknown as { bounce: string };
  const bouncePort = Number(started.bounce.slice(started.bounce.lastIndexOf(':') + 1));
  const list = testSuppressions(relay.ferry.db);
  return { ...relay, recipientMx, senderMx, bouncePort, list };
}

async function deliver(ferry: Ferry, smtpPort: number, to: string[], messageId: string) {
  const id = queuedId(await submit(smtpPort, { from: 'app@sender.test', to, messageId }));
  await waitFor(() => ferry.queue.recipients.forMessage(id).every((r) => r.status === 'delivered'), 10_000, 'delivery');
  return id;
}

t.test('VERP return path; a Postfix report → delivered becomes bounced, suppressed, DSN to the sender', async (t) => {
  const { ferry, smtpPort, recipientMx, senderMx, bouncePort, list } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['nobody@example.net'], '<p1@sender.test>');
  const rcpt = ferry.queue.recipients.forMessage(id)[0]!;
  const returnPath = recipientMx.messages[0]!.envelope.from;
  const verp = createVerp({ ...VERP, localPart: 'bounces' });
  t.equal(returnPath, verp.address(id, rcpt.id), 'MAIL FROM is the VERP address naming message and recipient');
  t.same(verp.parse(returnPath), { queueId: id, recipientId: rcpt.id });

  const replies = await sendRaw(bouncePort, '', [returnPath], postfixBounce({ verp: returnPath, recipient: 'nobody@example.net', originalMessageId: '<p1@sender.test>' }));
  t.match(replies.at(-1), /^250 /, 'the report is accepted');
  const after = ferry.queue.recipients.get(rcpt.id)!;
  t.equal(after.status, 'bounced', 'delivered → bounced');
  t.equal(after.category, 'user_unknown');
  t.match(after.lastReply, /^550 5\.1\.1 <nobody@example\.net>: Recipient address rejected/);
  t.match(list.find('nobody@example.net', null), { category: 'user_unknown', source: 'bounce' }, 'suppressed');
  const events = ferry.queue.events.forMessage(id).map((e) => [e.type, e.status]);
  t.same(events, [['queued', 'queued'], ['delivered', 'delivered'], ['bounced', 'bounced']]);
  t.match(ferry.queue.events.forMessage(id)[2]!.detail, { async: true, previousStatus: 'delivered', reportingMta: 'mx1.example.net' });

  await senderMx.waitForMessages(1, 10_000);
  const dsn = await parse(senderMx.messages[0]!.raw);
  t.equal(senderMx.messages[0]!.envelope.from, '', 'the DSN keeps a null return path (no VERP on DSNs)');
  t.match(dsn.text, /<nobody@example\.net>: the address does not exist/);

  // The same report again changes nothing (idempotent).
  await sendRaw(bouncePort, '', [returnPath], postfixBounce({ verp: returnPath, recipient: 'nobody@example.net', originalMessageId: '<p1@sender.test>' }));
  t.equal(ferry.queue.events.forMessage(id).length, 3);
});

t.test('a multi-recipient message: one transaction per recipient, so a report can only speak for its own recipient', async (t) => {
  const { ferry, smtpPort, recipientMx, bouncePort, list } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['jane@contoso.test', 'joe@contoso.test'], '<x1@sender.test>');
  const rows = ferry.queue.recipients.forMessage(id);
  const verp = createVerp({ ...VERP, localPart: 'bounces' });
  t.equal(recipientMx.messages.length, 2, 'two transactions');
  const byRcpt = new Map(recipientMx.messages.map((m) => [m.envelope.to.join(','), m.envelope.from]));
  t.equal(byRcpt.get('jane@contoso.test'), verp.address(id, rows[0]!.id), "jane's return path names jane");
  t.equal(byRcpt.get('joe@contoso.test'), verp.address(id, rows[1]!.id), "joe's names joe");

  // Joe, holding his own return path, forges a report about Jane: it can only bounce Joe.
  const joePath = byRcpt.get('joe@contoso.test')!;
  await sendRaw(bouncePort, '', [joePath], exchangeNdr({ verp: joePath, recipient: 'jane@contoso.test', originalMessageId: '<x1@sender.test>' }));
  t.equal(ferry.queue.recipients.get(rows[0]!.id)!.status, 'delivered', "a report on joe's return path cannot touch jane");
  t.equal(list.find('jane@contoso.test', null), null);
  t.equal(ferry.queue.recipients.get(rows[1]!.id)!.status, 'bounced', 'the token, not the report text, names the recipient (forwarding may rewrite Final-Recipient)');

  const janePath = byRcpt.get('jane@contoso.test')!;
  const replies = await sendRaw(bouncePort, '', [janePath], exchangeNdr({ verp: janePath, recipient: 'jane@contoso.test', originalMessageId: '<x1@sender.test>' }));
  t.match(replies.at(-1), /^250 /);
  t.equal(ferry.queue.recipients.get(rows[0]!.id)!.status, 'bounced', "jane's own report bounces jane");
  t.equal(ferry.queue.recipients.get(rows[0]!.id)!.category, 'user_unknown');
  t.match(list.find('jane@contoso.test', null), { source: 'bounce' });
});

t.test('a forged token is ignored; other mail to the bounce domain is discarded with 250; relaying is refused', async (t) => {
  const { ferry, smtpPort, recipientMx, bouncePort, list } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['nobody@example.net'], '<f1@sender.test>');
  const returnPath = recipientMx.messages[0]!.envelope.from;
  const forged = returnPath.replace(/-([a-z2-7]{16})@/, (_m, mac: string) => `-${mac.startsWith('a') ? 'b' : 'a'}${mac.slice(1)}@`);
  t.not(forged, returnPath);
  const replies = await sendRaw(bouncePort, '', [forged], postfixBounce({ verp: forged, recipient: 'nobody@example.net', originalMessageId: '<f1@sender.test>' }));
  t.match(replies.at(-1), /^250 /, 'answered 250 (nothing to tell the sender of a forgery)');
  t.equal(ferry.queue.recipients.forMessage(id)[0]!.status, 'delivered', 'the recipient is untouched');
  t.equal(list.find('nobody@example.net', null), null, 'not suppressed');

  const other = await sendRaw(bouncePort, 'someone@elsewhere.test', ['postmaster@bounce.ferry.test'], 'From: someone@elsewhere.test\r\nSubject: Out of office\r\n\r\nI am away until Monday.\r\n');
  t.match(other.at(-1), /^250 /, 'non-report mail is discarded without error');

  const relay = await sendRaw(bouncePort, 'spammer@elsewhere.test', ['victim@example.net'], 'Subject: x\r\n\r\nx\r\n');
  t.match(relay[1], /^550 5\.7\.1 Relay access denied/, 'RCPT to another domain is refused');
  t.equal(ferry.queue.events.forMessage(id).length, 2);
});

t.test('an ARF complaint suppresses the recipient (category and source complaint)', async (t) => {
  const { ferry, smtpPort, recipientMx, bouncePort, list, dataDir } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['jane@example.net'], '<c1@sender.test>');
  const returnPath = recipientMx.messages[0]!.envelope.from;
  const replies = await sendRaw(bouncePort, 'staff@fbl.example.net', ['fbl@bounce.ferry.test'], arfComplaint({ verp: returnPath, recipient: 'jane@example.net', originalMessageId: '<c1@sender.test>' }));
  t.match(replies.at(-1), /^250 /);
  t.match(list.find('jane@example.net', null), { category: 'complaint', source: 'complaint', reason: /abuse report from mail\.example\.net/ });
  const r = ferry.queue.recipients.forMessage(id)[0]!;
  t.equal(r.status, 'delivered', 'a complaint does not change the delivery status');
  t.match(ferry.queue.events.forMessage(id).at(-1), { type: 'complaint', category: 'complaint', recipient: 'jane@example.net', detail: { feedbackType: 'abuse' } });
  // Spam is a visible state of the recipient: messages show, stats and the dashboard's rollup.
  t.type(r.complainedAt, 'number', 'the recipient is marked complained');
  const env = { FERRY_DATA_DIR: dataDir };
  // a wide terminal, so the status cell is on one line (tables fit the terminal's width)
  const show = await runFerry(['messages', 'show', id], { env: { ...env, COLUMNS: '300' } });
  t.match(show.stdout, /spam \(delivered, complaint \d{4}-/);
  const listed = JSON.parse((await runFerry(['messages', 'list', '--json'], { env })).stdout) as { id: string; recipients: { status: string }[] }[];
  t.same(listed.find((m) => m.id === id)!.recipients, [{ address: 'jane@example.net', status: 'spam' }], 'messages list too');
  const stats = JSON.parse((await runFerry(['stats', '--json'], { env })).stdout) as { recipients: Record<string, number> };
  t.match(stats.recipients, { spam: 1, delivered: 0 });
  const rollup = ferry.db.prepare("SELECT SUM(complained) AS n FROM stats_hourly WHERE domain IN ('*', 'example.net') GROUP BY domain").all() as { n: number }[];
  t.same(rollup.map((x) => x.n), [1, 1], 'counted once overall and once for example.net');
});

t.test('a report returning a large message is still read (only its start is kept)', async (t) => {
  const { ferry, smtpPort, recipientMx, bouncePort } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['big@contoso.test'], '<big@sender.test>');
  const returnPath = recipientMx.messages[0]!.envelope.from;
  const filler = `${'x'.repeat(998)}\r\n`.repeat(3000); // ~3 MB of returned body
  const ndr = exchangeNdr({ verp: returnPath, recipient: 'big@contoso.test', originalMessageId: '<big@sender.test>' }).replace('\r\nHello\r\n', `\r\nHello\r\n${filler}`);
  t.ok(ndr.length > 3_000_000);
  const replies = await sendRaw(bouncePort, '', [returnPath], ndr);
  t.match(replies.at(-1), /^250 /);
  t.equal(ferry.queue.recipients.forMessage(id)[0]!.status, 'bounced');
});

t.test('a plain-text qmail bounce (no RFC 3464 part) bounces the recipient it names', async (t) => {
  const { ferry, smtpPort, recipientMx, bouncePort, list } = await setup(t);
  const id = await deliver(ferry, smtpPort, ['gone@example.net'], '<q1@sender.test>');
  const rcpt = ferry.queue.recipients.forMessage(id)[0]!;
  const returnPath = recipientMx.messages[0]!.envelope.from;
  const qmail = [
    'Return-Path: <>',
    'From: MAILER-DAEMON@mx.example.net',
    `To: ${returnPath}`,
    'Subject: failure notice',
    '',
    'Hi. This is the qmail-send program at mx.example.net.',
    "I'm afraid I wasn't able to deliver your message to the following addresses.",
    "This is a permanent error; I've given up. Sorry it didn't work out.",
    '',
    '<gone@example.net>:',
    '192.0.2.1 does not like recipient.',
    'Remote host said: 550 5.1.1 <gone@example.net>... User unknown',
    'Giving up on 192.0.2.1.',
    '',
  ].join('\r\n');
  const replies = await sendRaw(bouncePort, '', [returnPath], qmail);
  t.match(replies.at(-1), /^250 /);
  const after = ferry.queue.recipients.get(rcpt.id)!;
  t.equal(after.status, 'bounced');
  t.equal(after.category, 'user_unknown');
  t.match(after.lastReply, /Remote host said: 550 5\.1\.1/);
  t.match(list.find('gone@example.net', null), { category: 'user_unknown', source: 'bounce' });
});
