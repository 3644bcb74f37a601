// Whole bounce messages through the DSN path (`ferry bounces classify --eml` and the bounce
// listener use the same code): each message of a directory is read by classifyBounceMessage and
// each reported recipient's category compared with an expectation file. Needs `npm run build`.
//
//   node bench/classify-eml.mjs DIR EXPECT.json [--misses]
//
// EXPECT.json: { "<file name without .eml>": [{ "reason": "<Sisimai reason>", "status": "5.1.1" }, …] }
// in the order the message reports its recipients (rb-sisimai's test/public/*.rb IsExpected
// tables, converted). Sisimai reasons map to Ferry's categories as in
// test/classify/fixtures/corpus/README.md ("Label mapping"); no careful-reading overrides.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClassifier } from '../dist/classify/classifier.js';
import { classifyBounceMessage } from '../dist/bounce/dsn-classify.js';

export const MAPPING = {
  userunknown: 'user_unknown', hasmoved: 'user_unknown', hostunknown: 'domain_invalid', notaccept: 'domain_invalid',
  suspend: 'mailbox_disabled', mailboxfull: 'mailbox_full', toomanyconn: 'rate_limited', speeding: 'rate_limited',
  blocked: 'blocked', badreputation: 'blocked', spamdetected: 'spam_content', virusdetected: 'spam_content',
  rejected: 'policy', norelaying: 'policy', authfailure: 'policy', requireptr: 'policy', notcompliantrfc: 'policy',
  contenterror: 'policy', policyviolation: 'policy', securityerror: 'policy', filtered: 'policy', failedstarttls: 'policy',
  mesgtoobig: 'message_too_large', exceedlimit: 'message_too_large', expired: 'temporary', systemerror: 'temporary',
  systemfull: 'temporary', networkerror: 'temporary', mailererror: 'other', syntaxerror: 'other',
};

const [dir, expectFile] = process.argv.slice(2);
const showMisses = process.argv.includes('--misses');
// Either the plain form above or test/fixtures/bounce-eml/expected.json ({ source, expected }).
const expect = Object.fromEntries(Object.entries(JSON.parse(readFileSync(expectFile, 'utf8'))).map(([k, v]) => [k, Array.isArray(v) ? v : v.expected]));
const classifier = createClassifier();
let messages = 0, parsed = 0, rcptOk = 0, rcpts = 0, agree = 0, permRows = 0, permAgree = 0;
const t0 = process.hrtime.bigint();
for (const name of readdirSync(dir).filter((n) => n.endsWith('.eml')).sort()) {
  const want = (expect[name.slice(0, -4)] ?? []).filter((w) => MAPPING[w.reason]);
  if (want.length === 0) continue;
  messages++;
  const v = await classifyBounceMessage(readFileSync(join(dir, name)), classifier);
  const got = v.kind === 'complaint' ? [] : v.recipients;
  if (got.length > 0) parsed++;
  if (got.length === want.length) rcptOk++;
  want.forEach((w, i) => {
    rcpts++;
    const g = got[i];
    const category = MAPPING[w.reason];
    if (g && g.classification.category === category) agree++;
    else if (showMisses) console.log(`${name}#${i}: ${category} (${w.reason}) -> ${g ? `${g.classification.category} (${g.classification.rule}) | ${g.reply.code} ${g.reply.enhanced ?? ''} | ${g.reply.text.slice(0, 160)}` : 'no recipient'}`);
    // Permanence fixed by the category, else by the expected status class.
    const fixed = { user_unknown: true, domain_invalid: true, mailbox_disabled: true, mailbox_full: false, rate_limited: false, message_too_large: true, temporary: false }[category];
    const perm = fixed ?? (w.status?.[0] === '5' ? true : w.status?.[0] === '4' ? false : undefined);
    if (perm !== undefined && g) {
      permRows++;
      if (g.classification.permanent === perm) permAgree++;
    }
  });
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const pct = (a, b) => `${((100 * a) / b).toFixed(1)} %`;
console.log(`${messages} messages with expectations: ${parsed} yielded recipients, ${rcptOk} the expected number (${pct(rcptOk, messages)})`);
console.log(`${rcpts} expected recipients: category ${pct(agree, rcpts)} (${agree}), permanence ${pct(permAgree, permRows)} (${permAgree}/${permRows}); ${(messages / seconds).toFixed(0)} messages/s`);
