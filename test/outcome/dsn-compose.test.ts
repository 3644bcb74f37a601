import t from 'tap';
import { simpleParser } from 'mailparser';
import { composeDsn, explain, fold, statusCode, truncateHeaders, type DsnRecipient } from '../../src/outcome/dsn-compose.js';

const base: DsnRecipient = { address: 'x@dest.test', kind: 'bounced', category: 'user_unknown', reply: null, code: 550, enhanced: '5.1.1', remoteMta: null, lastAttemptAt: null };

t.test('plain words per category and kind', async (t) => {
  t.equal(explain(base, 72), 'the address does not exist: check it for typos.');
  t.equal(explain({ ...base, category: 'mailbox_full' }, 72), 'the mailbox is full: try again later or reach them another way.');
  t.match(explain({ ...base, category: 'policy' }, 72), /policy grounds .*SPF, DKIM or DMARC/);
  t.match(explain({ ...base, category: 'blocked' }, 72), /blocked mail from this relay/);
  t.match(explain({ ...base, kind: 'expired', category: 'temporary' }, 72), /^could not be delivered for 3 days, so we gave up: the receiving server kept asking us to try again later\.$/);
  t.match(explain({ ...base, kind: 'expired', category: 'mailbox_full' }, 36), /^could not be delivered for 36 hours, so we gave up: the mailbox is full/);
  t.equal(
    explain({ ...base, kind: 'dropped', suppressedAt: Date.UTC(2026, 9, 3, 12) }, 72),
    'this address is on the suppression list because it bounced on 2026-10-03: ask your admin to remove it once the recipient has fixed their mailbox.',
  );
  t.match(explain({ ...base, kind: 'dropped', category: 'complaint', suppressedAt: Date.UTC(2026, 9, 3) }, 72), /reported mail as spam on 2026-10-03/);
  t.match(explain({ ...base, category: 'something-new' }, 72), /its reply is below/);
});

t.test('Status: the enhanced code, else one that fits the category', async (t) => {
  t.equal(statusCode(base), '5.1.1');
  t.equal(statusCode({ ...base, enhanced: '4.2.2', kind: 'expired', category: 'mailbox_full' }), '4.2.2');
  t.equal(statusCode({ ...base, enhanced: null, category: 'domain_invalid' }), '5.1.2');
  t.equal(statusCode({ ...base, enhanced: null, category: 'temporary', kind: 'expired', code: null }), '4.4.7');
  t.equal(statusCode({ ...base, enhanced: null, category: 'other', code: 554 }), '5.0.0');
  t.equal(statusCode({ ...base, kind: 'dropped', enhanced: null }), '5.7.1');
});

t.test('folding and header truncation', async (t) => {
  const long = `Diagnostic-Code: smtp; ${'word '.repeat(40).trim()}`;
  const folded = fold(long);
  t.ok(folded.split('\r\n').every((l) => l.length <= 78));
  t.equal(folded.replace(/\r\n /g, ' '), long);
  const headers = Buffer.from(`A: 1\r\nB: folded\r\n continued\r\nC: ${'x'.repeat(50)}\r\n\r\n`);
  t.equal(truncateHeaders(headers).toString(), `A: 1\r\nB: folded\r\n continued\r\nC: ${'x'.repeat(50)}\r\n`, 'the closing blank line goes');
  t.equal(truncateHeaders(headers, 30).toString(), 'A: 1\r\nB: folded\r\n continued\r\n', 'whole lines only');
  t.equal(truncateHeaders(headers, 20).toString(), 'A: 1\r\n', 'never cuts inside a folded header');
});

t.test('the composed report parses as multipart/report with all three parts', async (t) => {
  const d = composeDsn({
    hostname: 'ferry.test',
    messageId: 'DSN1.dsn@ferry.test',
    boundary: '=_b',
    now: Date.UTC(2026, 10, 27, 12),
    maxAgeHours: 72,
    original: {
      queueId: 'Q1', arrivalAt: Date.UTC(2026, 10, 27, 11), sender: 'app@sender.test', messageIdHeader: '<m@sender.test>', subject: 'Grüße',
      headers: Buffer.from('From: app@sender.test\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m@sender.test>\r\n\r\n'),
    },
    recipients: [
      { ...base, reply: '550 5.1.1 <x@dest.test>: no such user', remoteMta: 'mx.dest.test', lastAttemptAt: Date.UTC(2026, 10, 27, 11, 30) },
      { ...base, address: 'y@dest.test', kind: 'expired', category: 'mailbox_full', enhanced: '4.2.2', code: 452, reply: '452 4.2.2 over quota', remoteMta: 'mx.dest.test', lastAttemptAt: null },
    ],
  });
  t.notOk(d.eightBit);
  const raw = Buffer.concat([d.headers, d.body]);
  t.ok([...raw].every((b) => b < 0x80), '7-bit clean');
  const p = await simpleParser(raw, { keepDeliveryStatus: true });
  t.equal(p.subject, 'Undelivered Mail Returned to Sender: Grüße');
  t.equal(p.from?.value[0]?.address, 'MAILER-DAEMON@ferry.test');
  t.equal(p.headers.get('auto-submitted'), 'auto-replied');
  t.match(p.text, /<x@dest\.test>: the address does not exist: check it for typos\.\n\s+The server mx\.dest\.test said: 550 5\.1\.1/);
  t.match(p.text, /<y@dest\.test>: could not be delivered for 3 days/);
  const ds = p.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString();
  t.match(ds, /^Reporting-MTA: dns; ferry\.test\r\nX-Ferry-Queue-ID: Q1\r\nArrival-Date: Fri, 27 Nov 2026 11:00:00 \+0000\r\n\r\n/);
  t.match(ds, /Final-Recipient: rfc822; x@dest\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.dest\.test\r\nDiagnostic-Code: smtp; 550 5\.1\.1 <x@dest\.test>: no such user\r\nLast-Attempt-Date: /);
  t.match(ds, /Final-Recipient: rfc822; y@dest\.test\r\nAction: failed\r\nStatus: 4\.2\.2\r\n/);
  t.notMatch(ds, /Will-Retry-Until/i, 'a final report promises no further tries (Will-Retry-Until belongs to delay notices)');
  t.match(p.attachments.find((a) => a.contentType === 'text/rfc822-headers')!.content.toString(), /^From: app@sender\.test\r\n[\s\S]*Message-ID: <m@sender\.test>\r\n$/);
});
