import t from 'tap';
import { startRelay, queuedId } from '../helpers/relay.js';
import { dsnFields, mx, parse, submit, waitFor } from '../helpers/bounce.js';
import { testSuppressions } from '../helpers/suppressions.js';

/**
 * A 550 5.1.1 from the recipient's MX: the recipient bounces, the address is suppressed, and a
 * delivery status notification reaches the sender's own MX and parses as an RFC 3464 report.
 */
t.test('550 5.1.1 → bounced, suppressed, DSN to the sender', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({
    rcpt: (a) =>
      a.startsWith('nobody@') || a.startsWith('ghost@')
        ? { code: 550, message: `5.1.1 <${a}>: Recipient address rejected: User unknown in virtual mailbox table` }
        : null,
  });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    dsn: { onDropped: true },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });

  const id = queuedId(
    await submit(smtpPort, { from: 'app@sender.test', to: ['nobody@example.net', 'someone@example.net', 'ghost@example.net'], subject: 'Your invoice', messageId: '<inv-1@sender.test>' }),
  );

  await senderMx.waitForMessages(1, 10_000);
  const rows = ferry.queue.recipients.forMessage(id);
  t.same(
    rows.map((r) => [r.address, r.status, r.category]),
    [
      ['nobody@example.net', 'bounced', 'user_unknown'],
      ['someone@example.net', 'delivered', null],
      ['ghost@example.net', 'bounced', 'user_unknown'],
    ],
  );
  const list = testSuppressions(ferry.db);
  const entry = list.find('nobody@example.net', null);
  t.ok(entry, 'the unknown address is on the suppression list');
  t.equal(entry?.source, 'bounce');
  t.equal(entry?.category, 'user_unknown');
  t.match(entry?.reason, /550 5\.1\.1 <nobody@example\.net>: Recipient address rejected/);
  t.equal(list.find('someone@example.net', null), null, 'the delivered address is not');

  // One DSN for both failed recipients, sent with a null sender to the original envelope sender.
  await new Promise((r) => setTimeout(r, 300));
  t.equal(senderMx.messages.length, 1, 'one DSN per message, not per recipient');
  const dsnMail = senderMx.messages[0]!;
  t.equal(dsnMail.envelope.from, '', 'the DSN has a null envelope sender');
  t.same(dsnMail.envelope.to, ['app@sender.test']);
  const parsed = await parse(dsnMail.raw);
  t.match(parsed.headers.get('content-type'), { value: 'multipart/report', params: { 'report-type': 'delivery-status' } });
  t.match(parsed.subject, /Undelivered Mail Returned to Sender: Your invoice/);
  t.equal(parsed.inReplyTo, '<inv-1@sender.test>');
  t.match(parsed.text, /<nobody@example\.net>: the address does not exist: check it for typos\./);
  t.match(parsed.text, /<ghost@example\.net>: the address does not exist/);
  t.notMatch(parsed.text, /someone@example\.net/, 'the delivered recipient is not reported');
  const status = parsed.attachments.find((a) => a.contentType === 'message/delivery-status');
  t.ok(status, 'has a message/delivery-status part');
  const fields = dsnFields(status!.content.toString('utf8'));
  t.equal(fields.message['reporting-mta'], 'dns; ferry.test');
  t.ok(fields.message['arrival-date'], 'Arrival-Date');
  t.equal(fields.recipients.length, 2);
  t.match(fields.recipients[0], {
    'final-recipient': 'rfc822; nobody@example.net',
    action: 'failed',
    status: '5.1.1',
    'remote-mta': 'dns; 127.0.0.2',
    'diagnostic-code': /^smtp; 550 5\.1\.1 <nobody@example\.net>: Recipient address rejected: User unknown/,
  });
  t.equal(fields.recipients[1]!['final-recipient'], 'rfc822; ghost@example.net');
  const headersPart = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  t.ok(headersPart, 'has the original headers');
  t.match(headersPart!.content.toString(), /Message-ID: <inv-1@sender\.test>/i);

  // The DSN is a message of Ferry's own queue, of kind 'dsn', delivered like any other.
  const dsnRow = ferry.db.prepare("SELECT id FROM messages WHERE kind = 'dsn'").all() as { id: string }[];
  t.equal(dsnRow.length, 1);
  const dsnRecipients = ferry.queue.recipients.forMessage(dsnRow[0]!.id);
  t.same(dsnRecipients.map((r) => [r.address, r.status]), [['app@sender.test', 'delivered']]);

  t.ok(ferry.queue.events.forMessage(id).some((e) => e.type === 'bounced' && e.recipient === 'nobody@example.net'), 'bounce recorded as an event');

  // Sending again to the suppressed address: dropped at intake, and (dsn.onDropped) the sender is told why.
  const again = queuedId(await submit(smtpPort, { from: 'app@sender.test', to: 'nobody@example.net', subject: 'Second try' }));
  t.same(ferry.queue.recipients.forMessage(again).map((r) => r.status), ['dropped']);
  await senderMx.waitForMessages(2, 10_000);
  const dropped = await parse(senderMx.messages[1]!.raw);
  t.match(dropped.subject, /recipient on the suppression list: Second try/);
  const day = new Date(entry!.createdAt).toISOString().slice(0, 10);
  t.match(
    dropped.text,
    `<nobody@example.net>: this address is on the suppression list because it bounced on ${day}: ask your admin to remove it once the recipient has fixed their mailbox.`,
  );
  t.match(dsnFields(dropped.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString()).recipients[0], { action: 'failed', status: '5.7.1' });
});

t.test('a 4xx that says the user does not exist bounces at once', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: (a) => ({ code: 450, message: `4.1.1 <${a}>: Recipient address rejected: User unknown in local recipient table` }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const id = queuedId(await submit(smtpPort, { from: 'app@sender.test', to: 'gone@example.net' }));
  await senderMx.waitForMessages(1, 10_000);
  t.match(ferry.queue.recipients.forMessage(id)[0], { status: 'bounced', attempts: 1, category: 'user_unknown' }, 'bounced on the first attempt');
  const parsed = await parse(senderMx.messages[0]!.raw);
  t.match(parsed.text, /<gone@example\.net>: the address does not exist/);
});

t.test('a DSN that bounces produces no DSN, and a null sender gets none', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 550, message: '5.1.1 User unknown' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  senderMx.setScript({ rcpt: () => ({ code: 550, message: '5.1.1 Sender mailbox gone' }) });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const id = queuedId(await submit(smtpPort, { from: 'app@sender.test', to: 'nobody@example.net' }));
  const dsnId = await waitFor(() => (ferry.db.prepare("SELECT id FROM messages WHERE kind = 'dsn'").get() as { id: string } | undefined)?.id, 10_000, 'a DSN');
  await waitFor(() => ferry.queue.recipients.forMessage(dsnId)[0]?.status === 'bounced', 10_000, 'the DSN to bounce');
  const bounceNull = queuedId(await submit(smtpPort, { from: 'app@sender.test', envelopeFrom: '', to: 'other@example.net' }));
  await waitFor(() => ferry.queue.recipients.forMessage(bounceNull)[0]?.status === 'bounced', 10_000, 'the null-sender message to bounce');
  await new Promise((r) => setTimeout(r, 300));
  const kinds = ferry.db.prepare('SELECT kind, COUNT(*) AS n FROM messages GROUP BY kind ORDER BY kind').all();
  t.same(kinds, [{ kind: 'dsn', n: 1 }, { kind: 'submission', n: 2 }], 'exactly one DSN: none for the DSN, none for the null sender');
  t.equal(ferry.queue.recipients.forMessage(id)[0]!.status, 'bounced');
});

t.test('expiry → DSN that says how long it tried', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 452, message: '4.2.2 Mailbox full, try again later' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
    // 1.8 s retry window, retries every second: expires on the third attempt or so.
    delivery: { maxAgeHours: 0.0005, retryScheduleMinutes: [0.01], retryJitter: 0 },
    bounces: { mailboxFullSuppressAfterHours: 1000 },
  });
  const id = queuedId(await submit(smtpPort, { from: 'app@sender.test', to: 'full@example.net', subject: 'Report' }));
  await senderMx.waitForMessages(1, 15_000).catch((err: unknown) => {
    t.comment(JSON.stringify({ recipients: ferry.queue.recipients.forMessage(id), events: ferry.queue.events.forMessage(id) }));
    throw err;
  });
  const r = ferry.queue.recipients.forMessage(id)[0]!;
  t.equal(r.status, 'expired');
  t.ok(r.attempts >= 2, 'retried before giving up');
  const parsed = await parse(senderMx.messages[0]!.raw);
  t.match(parsed.subject, /delivery time expired: Report/);
  t.match(parsed.text, /<full@example\.net>: could not be delivered for 0\.0005 hours, so we gave up/);
  t.match(parsed.text, /the mailbox is full: try again later or reach them another way/);
  const fields = dsnFields(parsed.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString());
  t.match(fields.recipients[0], { action: 'failed', status: '4.2.2', 'diagnostic-code': /^smtp; 452 4\.2\.2 Mailbox full/ });
  const list = testSuppressions(ferry.db);
  t.equal(list.find('full@example.net', null), null, 'a full mailbox that did not persist long enough is not suppressed');
});
