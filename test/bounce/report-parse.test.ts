import t from 'tap';
import { parseInboundReport, fieldBlocks, addressOf } from '../../src/bounce/report-parse.js';
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
