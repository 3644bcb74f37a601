import t from 'tap';
import { parseInboundReport, fieldBlocks, addressOf, statusOf, REPORT_PARSE_LIMITS } from '../../src/bounce/report-parse.js';
import { arfComplaint, exchangeNdr, postfixBounce } from './fixtures/reports.js';

const VERP = 'bounces+0migk3xq0a1b2c3d4e5f6-9ix-abcdefghijklmnop@bounce.ferry.test';

t.test('Postfix delivery report', async (t) => {
  const r = await parseInboundReport(Buffer.from(postfixBounce({ verp: VERP, recipient: 'nobody@example.net', originalMessageId: '<m1@sender.test>' })));
  t.equal(r.kind, 'dsn');
  if (r.kind !== 'dsn') return;
  t.equal(r.reportingMta, 'mx1.example.net');
  t.same(r.recipients, [
    {
      finalRecipient: 'nobody@example.net',
      originalRecipient: 'nobody@example.net',
      action: 'failed',
      status: '5.1.1',
      diagnosticType: 'smtp',
      diagnostic: '550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in local recipient table',
      remoteMta: 'mailstore.example.net',
    },
  ]);
  t.match(r.searchText, VERP);
});

t.test('Exchange Online NDR', async (t) => {
  const r = await parseInboundReport(Buffer.from(exchangeNdr({ verp: VERP, recipient: 'jane@contoso.test', originalMessageId: '<m1@sender.test>' })));
  t.equal(r.kind, 'dsn');
  if (r.kind !== 'dsn') return;
  t.equal(r.reportingMta, 'BN8PR12MB3210.namprd12.prod.outlook.com');
  t.match(r.recipients, [
    { finalRecipient: 'jane@contoso.test', action: 'failed', status: '5.1.10', diagnosticType: 'smtp', diagnostic: /^550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound/ },
  ]);
});

t.test('ARF complaint', async (t) => {
  const r = await parseInboundReport(Buffer.from(arfComplaint({ verp: VERP, recipient: 'jane@example.net', originalMessageId: '<m1@sender.test>' })));
  t.match(r, { kind: 'complaint', feedbackType: 'abuse', userAgent: 'SomeGenerator/1.0', reportingMta: 'mail.example.net', originalMailFrom: VERP, originalRcptTo: ['jane@example.net'], sourceIp: '127.0.0.1' });
});

t.test('plain mail is neither', async (t) => {
  const r = await parseInboundReport(Buffer.from('From: a@b.test\r\nSubject: out of office\r\n\r\nI am away.\r\n'));
  t.match(r, { kind: 'other', subject: 'out of office' });
  t.match(await parseInboundReport(Buffer.from('\x00\x01garbage')), { kind: 'other' });
});

t.test('field helpers', async (t) => {
  t.same([...fieldBlocks('A: 1\r\nB: two\r\n  folded\r\n\r\nC: 3\r\n')[0]!], [['a', '1'], ['b', 'two folded']]);
  t.equal(addressOf('rfc822;<x@y.test>'), 'x@y.test');
  t.equal(addressOf('x@y.test'), 'x@y.test');
  t.equal(addressOf(''), null);
});

t.test('the human-readable part comes back as humanText, clipped', async (t) => {
  const raw = Buffer.from(postfixBounce({ verp: VERP, recipient: 'nobody@example.net', originalMessageId: '<m1@sender.test>' }));
  const r = await parseInboundReport(raw);
  t.equal(r.kind, 'dsn');
  if (r.kind !== 'dsn') return;
  t.match(r.humanText, /^This is the mail system at host mx1\.example\.net\./);
  t.match(r.humanText, /Recipient address rejected/);
  const clipped = await parseInboundReport(raw, { ...REPORT_PARSE_LIMITS, humanTextMaxChars: 40 });
  t.equal(clipped.kind === 'dsn' && clipped.humanText, 'This is the mail system at host mx1.exam');
});

const dsnMessage = (statusPart: string, cte = '7bit', type = 'message/delivery-status') =>
  Buffer.from(
    [
      'From: MAILER-DAEMON@mx.test',
      'Subject: failure',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="XX"',
      '',
      '--XX',
      'Content-Type: text/plain',
      '',
      'It failed.',
      '--XX',
      `Content-Type: ${type}`,
      `Content-Transfer-Encoding: ${cte}`,
      '',
      statusPart,
      '--XX--',
      '',
    ].join('\r\n'),
    'latin1',
  );
const statusFields = (n: number) =>
  ['Reporting-MTA: dns; mx.test', '', ...Array.from({ length: n }, (_, i) => `Final-Recipient: rfc822; u${i}@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n`)].join('\r\n');

t.test('a base64-encoded delivery-status part is decoded', async (t) => {
  const r = await parseInboundReport(dsnMessage(Buffer.from(statusFields(1)).toString('base64'), 'base64'));
  t.match(r, { kind: 'dsn', reportingMta: 'mx.test', recipients: [{ finalRecipient: 'u0@example.net', action: 'failed', status: '5.1.1' }] });
  t.match(r.searchText, 'Final-Recipient: rfc822; u0@example.net', 'the decoded part is searched for VERP addresses too');
});

t.test('a quoted-printable global delivery-status part (UTF-8) is decoded', async (t) => {
  const fields = 'Reporting-MTA: dns; mx.test\r\n\r\nFinal-Recipient: rfc822; j=C3=BCrgen@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n';
  const r = await parseInboundReport(dsnMessage(fields, 'quoted-printable', 'message/global-delivery-status'));
  t.match(r, { kind: 'dsn', recipients: [{ finalRecipient: 'jürgen@example.net' }] });
});

t.test('recipients per report are bounded', async (t) => {
  const r = await parseInboundReport(dsnMessage(statusFields(150)));
  t.equal(r.kind === 'dsn' && r.recipients.length, REPORT_PARSE_LIMITS.maxRecipients);
  const few = await parseInboundReport(dsnMessage(statusFields(5)), { ...REPORT_PARSE_LIMITS, maxRecipients: 2 });
  t.equal(few.kind === 'dsn' && few.recipients.length, 2);
});

t.test('only the first mimeMaxBytes are walked: a status part after them is not read', async (t) => {
  const filler = `--XX\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(200)}\r\n`.repeat(10);
  const raw = Buffer.from(dsnMessage(statusFields(1)).toString('latin1').replace('--XX\r\nContent-Type: text/plain', `${filler}--XX\r\nContent-Type: text/plain`), 'latin1');
  t.equal((await parseInboundReport(raw)).kind, 'dsn');
  const cut = await parseInboundReport(raw, { ...REPORT_PARSE_LIMITS, mimeMaxBytes: 1000 });
  t.equal(cut.kind, 'other');
  t.match(cut.searchText, 'Final-Recipient', 'the raw text is still searched for VERP addresses');
});

t.test('too many parts: what was read before the limit still counts', async (t) => {
  const raw = Buffer.from(dsnMessage(statusFields(1)).toString('latin1').replace('--XX--', `${'--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(200)}--XX--`), 'latin1');
  t.match(await parseInboundReport(raw), { kind: 'dsn', recipients: [{ finalRecipient: 'u0@example.net' }] });
});

t.test('ARF fields inline in a multipart/report without MIME structure', async (t) => {
  const raw = Buffer.from(
    [
      'From: fbl@provider.test',
      'Subject: complaint',
      'Content-Type: multipart/report; report-type="feedback-report"',
      '',
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'User-Agent: Inline/1.0',
      'Original-Rcpt-To: <jane@example.net>',
      'Original-Rcpt-To: joe@example.net',
      '',
      'the rest',
    ].join('\r\n'),
  );
  t.match(await parseInboundReport(raw), { kind: 'complaint', feedbackType: 'abuse', userAgent: 'Inline/1.0', originalRcptTo: ['jane@example.net', 'joe@example.net'] });
  const noType = Buffer.from(raw.toString().replace('report-type="feedback-report"', 'report-type=other'));
  t.match(await parseInboundReport(noType), { kind: 'other', subject: 'complaint' });
  const label = Buffer.from(raw.toString().replace('Content-Type: message/feedback-report', 'X-Note: message/feedback-report'));
  t.match(await parseInboundReport(label), { kind: 'other' }, 'only a Content-Type line starts the fields');
  const noBlank = Buffer.from(raw.toString().split('\r\n').slice(0, 5).join('\r\n'));
  t.match(await parseInboundReport(noBlank), { kind: 'other' });
});

t.test('an encoded Subject of plain mail is decoded', async (t) => {
  const r = await parseInboundReport(Buffer.from('From: a@b.test\r\nSubject: =?UTF-8?B?w5xiZXI=?=\r\n\r\nbody\r\n'));
  t.match(r, { kind: 'other', subject: 'Über' });
  t.match(await parseInboundReport(Buffer.from('From: a@b.test\r\n\r\nbody\r\n')), { kind: 'other', subject: null });
});

t.test('addressOf and statusOf', async (t) => {
  t.equal(addressOf('rfc822; <>'), null);
  t.equal(addressOf('<a@b>'), 'a@b');
  t.equal(statusOf('5.1.1 (user unknown)'), '5.1.1');
  t.equal(statusOf('9.9.9'), null);
  t.equal(statusOf(undefined), null);
});
