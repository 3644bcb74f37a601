import t from 'tap';
import { readFileSync } from 'node:fs';
import { createClassifier } from '../../src/classify/classifier.js';
import { classifyBounceMessage, replyFromText, replyOfReported } from '../../src/bounce/dsn-classify.js';
import type { ReportedRecipient } from '../../src/bounce/report-parse.js';

const classifier = createClassifier();
const eml = (name: string) => readFileSync(new URL(`./fixtures/eml/${name}`, import.meta.url));

/**
 * Real bounce messages from sisimai/set-of-emails (BSD-2), each with the reason Sisimai's own
 * tests expect for it, mapped to Ferry's category (fixtures/corpus/README.md).
 */
const CASES: { file: string; kind: string; expect: { recipient: string; category: string; permanent: boolean; code?: number; enhanced?: string | null }[] }[] = [
  { file: 'lhost-postfix-02.eml', kind: 'dsn', expect: [
    { recipient: 'filtered@example.co.jp', category: 'user_unknown', permanent: true, code: 550, enhanced: '5.2.1' },
    { recipient: 'userunknown@example.co.jp', category: 'user_unknown', permanent: true, code: 550, enhanced: '5.1.1' },
  ] },
  // Gmail's multi-line 550-5.1.1 reply, folded into Diagnostic-Code.
  { file: 'lhost-postfix-31.eml', kind: 'dsn', expect: [{ recipient: 'kijitora@gmail.com', category: 'user_unknown', permanent: true, enhanced: '5.1.1' }] },
  { file: 'lhost-sendmail-01.eml', kind: 'dsn', expect: [{ recipient: 'userunknown@bouncehammer.jp', category: 'user_unknown', permanent: true }] },
  { file: 'lhost-exchange2007-04.eml', kind: 'dsn', expect: [{ recipient: 'neko-nyaan@example.jp', category: 'policy', permanent: true, enhanced: '5.7.1' }] },
  // Exim gave up: "retry timeout exceeded" is the relay's verdict, not the mailbox's.
  { file: 'lhost-exim-06.eml', kind: 'other', expect: [{ recipient: 'kijitora@example.com', category: 'temporary', permanent: false }] },
  { file: 'lhost-exim-01.eml', kind: 'other', expect: [{ recipient: 'kijitora@example.ed.jp', category: 'blocked', permanent: true, enhanced: '5.7.0' }] },
  // qmail's conversational "remote host said: 550 Unknown user ... (#5.5.0)".
  { file: 'lhost-qmail-01.eml', kind: 'other', expect: [{ recipient: 'kijitora@example.ne.jp', category: 'user_unknown', permanent: true, code: 550 }] },
  // Microsoft 365 NDR: the reply is quoted in the administrators' section of the text.
  { file: 'lhost-office365-01.eml', kind: 'other', expect: [{ recipient: 'kijitora@example.com', category: 'user_unknown', permanent: true, enhanced: '5.1.10' }] },
  { file: 'lhost-gmx-01.eml', kind: 'other', expect: [{ recipient: 'shironeko@example.jp', category: 'mailbox_full', permanent: false, enhanced: '5.2.2' }] },
];

for (const c of CASES) {
  t.test(`${c.file}: each recipient classified`, async (t) => {
    const v = await classifyBounceMessage(eml(c.file), classifier);
    t.equal(v.kind, c.kind);
    if (v.kind === 'complaint') return t.fail('not a complaint');
    t.equal(v.recipients.length, c.expect.length, 'one verdict per failed recipient');
    c.expect.forEach((e, i) => {
      const r = v.recipients[i]!;
      t.equal(r.recipient, e.recipient);
      t.equal(r.classification.category, e.category, `${e.recipient}: ${r.reply.text.slice(0, 120)}`);
      t.equal(r.classification.permanent, e.permanent);
      if (e.code !== undefined) t.equal(r.reply.code, e.code);
      if (e.enhanced !== undefined) t.equal(r.reply.enhanced, e.enhanced);
    });
  });
}

t.test('a message that is no bounce yields no recipients', async (t) => {
  const v = await classifyBounceMessage(Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello there.\r\n'), classifier);
  t.same(v, { kind: 'other', recipients: [] });
  const garbage = await classifyBounceMessage(Buffer.from([0, 1, 2, 3]), classifier);
  t.equal(garbage.kind, 'other');
});

t.test('a complaint is named, not classified', async (t) => {
  const raw = [
    'From: fbl@example.net', 'To: bounces@example.com', 'Subject: complaint', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'A complaint.', '',
    '--b', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: x/1.0', 'Version: 1',
    'Original-Rcpt-To: <u@example.net>', '', '--b--', '',
  ].join('\r\n');
  const v = await classifyBounceMessage(Buffer.from(raw), classifier);
  t.same(v, { kind: 'complaint', feedbackType: 'abuse', recipients: ['u@example.net'] });
});

t.test('a report without a Diagnostic-Code reads the human-readable part', async (t) => {
  const raw = [
    'From: MAILER-DAEMON@example.net', 'To: bounces@example.com', 'Subject: failure', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"', '', '--b', 'Content-Type: text/plain', '',
    'Your message could not be delivered.', '', '<gone@example.org>:', 'Der Empfänger ist unbekannt, das Postfach existiert nicht.', '',
    '--b', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.example.net', '',
    'Final-Recipient: rfc822; gone@example.org', 'Action: failed', 'Status: 5.0.0', '', '--b--', '',
  ].join('\r\n');
  const v = await classifyBounceMessage(Buffer.from(raw, 'utf8'), classifier);
  if (v.kind !== 'dsn') return t.fail(`kind ${v.kind}`);
  t.equal(v.recipients[0]!.classification.category, 'user_unknown', v.recipients[0]!.reply.text);
  t.equal(v.recipients[0]!.reply.enhanced, '5.0.0');
});

const reported = (over: Partial<ReportedRecipient>): ReportedRecipient => ({
  finalRecipient: 'a@example.org', originalRecipient: null, action: 'failed', status: null, diagnosticType: 'smtp',
  diagnostic: null, remoteMta: null, ...over,
});

t.test('replies from report fields', async (t) => {
  // Exchange's "#550 ... ##" form.
  t.same(replyFromText('#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##'), { code: 550, enhanced: '5.1.1', text: '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found' });
  // The reply quoted in Exchange's "Remote Server returned '...'" is read alone.
  t.same(replyFromText("Remote Server returned '554 5.4.14 Hop count exceeded'"), { code: 554, enhanced: '5.4.14', text: '554 5.4.14 Hop count exceeded' });
  t.same(replyFromText('user is over quota (#5.2.2)'), { code: 550, enhanced: '5.2.2', text: 'user is over quota (#5.2.2)' });
  t.same(replyFromText('mailbox unavailable'), { code: 550, enhanced: null, text: 'mailbox unavailable' });
  t.same(replyFromText('temporary failure', '4.3.0'), { code: 450, enhanced: '4.3.0', text: 'temporary failure' });
  // A reply without its own enhanced code takes the Status field's.
  t.same(replyOfReported(reported({ status: '5.1.1', diagnostic: '550 no such user' })), { code: 550, enhanced: '5.1.1', text: '550 no such user' });
  // X-Postfix and similar: the reporting MTA's words, classified with the status.
  t.same(replyOfReported(reported({ status: '5.4.4', diagnosticType: 'x-postfix', diagnostic: 'Host or domain name not found' })), {
    code: 550, enhanced: '5.4.4', text: '5.4.4 Host or domain name not found',
  });
  t.same(replyOfReported(reported({ status: '4.4.1', diagnosticType: 'x-postfix', diagnostic: 'host x said: 451 try later' })).code, 451);
  // Nothing but a status.
  t.same(replyOfReported(reported({ status: '4.2.2' })), { code: 450, enhanced: '4.2.2', text: '450 4.2.2' });
  t.same(replyOfReported(reported({ status: null, diagnosticType: null })), { code: 550, enhanced: null, text: '550' });
  // Human text that does not name the recipient: the first paragraph with a reply code.
  t.equal(replyOfReported(reported({ status: '5.0.0', diagnostic: null }), 'Hello.\n\nhost mx said: 552 5.2.2 mailbox full\n').code, 552);
  t.equal(replyOfReported(reported({ status: '5.0.0', diagnostic: null }), 'Hello.\n\nNo code here.\n').text, '550 5.0.0');
});
