import t from 'tap';
import { readFileSync } from 'node:fs';
import { createClassifier } from '../../src/classify/classifier.js';
import { classifyBounceMessage } from '../../src/bounce/dsn-classify.js';

/**
 * Whole real bounce messages through the DSN path (`ferry bounces classify --eml` and the
 * bounce listener): test/fixtures/bounce-eml holds a fixed sample of sisimai/set-of-emails
 * (BSD-2, every message whose name hashes into the sample, plus four chosen for the ways of
 * naming a recipient they show) with the reasons rb-sisimai's tests expect, mapped to Ferry's
 * categories without the corpus's careful-reading overrides (so Sisimai's "filtered" unknown
 * users count against us here). Floors a little below what was measured when they were set.
 */
const dir = new URL('../fixtures/bounce-eml/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as Record<
  string,
  { source: string; expected: { reason: string; status: string; category: string | null }[] }
>;
const classifier = createClassifier();
const eml = (name: string) => readFileSync(new URL(`${name}.eml`, dir));

t.test('the sample: recipients found and categories agree above their floors', async (t) => {
  let messages = 0;
  let countOk = 0;
  let rows = 0;
  let agree = 0;
  for (const [name, e] of Object.entries(expected)) {
    const want = e.expected.filter((w) => w.category !== null);
    if (want.length === 0) continue;
    messages++;
    const v = await classifyBounceMessage(eml(name), classifier);
    const got = v.kind === 'complaint' ? [] : v.recipients;
    if (got.length === want.length) countOk++;
    want.forEach((w, i) => {
      rows++;
      if (got[i]?.classification.category === w.category) agree++;
    });
  }
  t.comment(`${countOk}/${messages} messages with the expected number of recipients, ${agree}/${rows} categories agree`);
  t.ok(messages >= 60, `${messages} messages`);
  t.ok(countOk / messages >= 0.85, `recipients found: ${((100 * countOk) / messages).toFixed(1)} % >= 85 %`);
  t.ok(agree / rows >= 0.74, `category agreement: ${((100 * agree) / rows).toFixed(1)} % >= 74 %`);
});

const verdicts = async (name: string) => {
  const v = await classifyBounceMessage(eml(name), classifier);
  if (v.kind === 'complaint') throw new Error('complaint');
  return v.recipients.map((r) => ({ recipient: r.recipient, category: r.classification.category, code: r.reply.code, enhanced: r.reply.enhanced }));
};

t.test('Gmail: the address alone in its paragraph, the reply two paragraphs later', async (t) => {
  t.same(await verdicts('lhost-gmail-01'), [{ recipient: 'userunknown@example.jp', category: 'user_unknown', code: 550, enhanced: '5.1.1' }]);
});

t.test('DragonFly: the recipient named inside a sentence, a multi-line 550-5.7.26 reply below', async (t) => {
  t.same(await verdicts('lhost-dragonfly-01'), [{ recipient: 'pseudo-local-part@google.example.com', category: 'policy', code: 550, enhanced: '5.7.26' }]);
});

t.test('Sendmail 5: one transcript line per failed recipient', async (t) => {
  const v = await verdicts('lhost-v5sendmail-05');
  t.same(v.map((r) => r.recipient), ['kijitora@example.edu', 'kuroneko@example.or.jp', 'kijitora@example.org', 'mikeneko@example.co.jp']);
  t.same(v.map((r) => r.category), ['temporary', 'domain_invalid', 'domain_invalid', 'user_unknown']);
});

t.test('Amazon WorkMail: RFC 3464 fields written into the text part', async (t) => {
  t.same(await verdicts('lhost-amazonworkmail-01'), [{ recipient: 'kijitora@example.jp', category: 'user_unknown', code: 550, enhanced: '5.1.1' }]);
});

t.test('an ordinary mail quoting an address and a code is not read as a bounce', async (t) => {
  const raw = ['From: friend@example.com', 'To: bounces@example.org', 'Subject: lunch', '', 'Hi, write to bob@example.net about room 550.', 'See you at 4.1.2.', ''].join('\r\n');
  t.same(await classifyBounceMessage(Buffer.from(raw), classifier), { kind: 'other', recipients: [] });
});
