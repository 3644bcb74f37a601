import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createClassifier, isRateLimit } from '../../src/classify/classifier.js';
import { parseReply } from '../../src/classify/parse-reply.js';
import { CATEGORY_SEMANTICS, DEFAULT_RULES, rule, type BounceRule } from '../../src/classify/rules.js';
import { BOUNCE_CATEGORIES, type BounceCategory, type Classification } from '../../src/core/types.js';

interface Row {
  line: number;
  code: number;
  enhanced: string | null;
  text: string;
  category: BounceCategory;
  source: string;
}

/** CSV-style quoting is used by the corpus for texts that contain '"'. */
function unquote(field: string): string {
  return field.length >= 2 && field.startsWith('"') && field.endsWith('"') ? field.slice(1, -1).replace(/""/g, '"') : field;
}

function loadTsv(name: string): Row[] {
  const lines = readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8').split('\n');
  const header = lines[0]!.split('\t');
  if (header.join(',') !== 'code,enhanced,text,category,source') throw new Error(`${name}: unexpected header ${header.join(',')}`);
  const rows: Row[] = [];
  lines.forEach((raw, i) => {
    if (i === 0 || raw.trim() === '') return;
    const [code, enhanced, text, category, source] = raw.replace(/\r$/, '').split('\t').map(unquote);
    if (!BOUNCE_CATEGORIES.includes(category as BounceCategory)) throw new Error(`${name}:${i + 1}: bad category ${category}`);
    rows.push({ line: i + 1, code: Number(code), enhanced: enhanced || null, text: text!, category: category as BounceCategory, source: source! });
  });
  return rows;
}

const shared = loadTsv('bounce-replies.tsv');
const extra = loadTsv('extra-replies.tsv');
const classifier = createClassifier();
const rulesHit = new Set<string>();

function classifyRow(row: Row): Classification {
  const c = classifier.classify({ kind: 'reply', reply: { code: row.code, enhanced: row.enhanced, text: row.text } });
  rulesHit.add(c.rule);
  return c;
}

/**
 * Shared-corpus labels we deliberately do not follow. Keep this tiny and explain each one;
 * the test checks our answer too, so an entry cannot silently rot.
 */
const KNOWN_DISAGREEMENTS: ReadonlyMap<string, { ours: BounceCategory; why: string }> = new Map([
  [
    '550 : User unknown',
    {
      ours: 'user_unknown',
      why:
        'labelled policy, presumably because in its source bounce it answered the MAIL FROM; ' +
        'the reply alone says a user is unknown, and nothing in it names the sender',
    },
  ],
  [
    '550 Access denied...7d39d5299584f4be161127e61f5f5400...',
    {
      ours: 'policy',
      why:
        'labelled blocked (Sisimai: blocked); a bare "access denied" names no block, list or reputation, ' +
        'and the corpus labelling guide (P1) reads it as a refused sender or client: policy',
    },
  ],
  [
    '500 Line limit exceeded',
    {
      ours: 'policy',
      why:
        'labelled message_too_large (Sisimai: mesgtoobig); a line-length limit is the message\'s format, ' +
        'not its size (corpus labelling guide P8, and the corpus row of the same bounce is policy)',
    },
  ],
  [
    '550 Rejected',
    {
      ours: 'policy',
      why:
        'labelled other: the reply says nothing but "rejected"; the learned vocabulary\'s best guess ' +
        '(vocabulary-guess, chosen over the code-class fallback by cross-validation) is policy',
    },
  ],
]);

/** Checks that permanence and suppression follow DESIGN.md for the category and reply code. */
function checkSemantics(t: Test, c: Classification, code: number, what: string): void {
  const semantics = CATEGORY_SEMANTICS[c.category];
  const permanent = semantics.permanent === 'by-code' ? Math.floor(code / 100) === 5 : semantics.permanent;
  t.equal(c.permanent, permanent, `${what}: permanent for ${c.category} ${code}`);
  t.equal(c.suppress, semantics.suppress && permanent, `${what}: suppress for ${c.category}`);
}

t.test('shared corpus: every reply gets its labelled category', async (t) => {
  let agree = 0;
  for (const row of shared) {
    const c = classifyRow(row);
    const what = `${row.source} (line ${row.line}): ${row.text.slice(0, 90)}`;
    const known = KNOWN_DISAGREEMENTS.get(row.text);
    if (known !== undefined) {
      t.equal(c.category, known.ours, `known disagreement, label ${row.category}: ${known.why} — ${what}`);
    } else {
      t.equal(c.category, row.category, what);
    }
    if (c.category === row.category) agree++;
    checkSemantics(t, c, row.code, what);
  }
  const accuracy = agree / shared.length;
  t.comment(`shared corpus accuracy: ${agree}/${shared.length} = ${(100 * accuracy).toFixed(1)}% (labels as given)`);
  t.ok(accuracy >= 0.97, 'at least 97% of the shared corpus as labelled');
  t.ok(KNOWN_DISAGREEMENTS.size <= 5, 'the list of disagreements stays tiny');
});

t.test('extra replies: every one gets its labelled category', async (t) => {
  t.ok(extra.length >= 60, `${extra.length} extra replies`);
  let agree = 0;
  for (const row of extra) {
    const c = classifyRow(row);
    const what = `${row.source} (line ${row.line}): ${row.text.slice(0, 90)}`;
    t.equal(c.category, row.category, what);
    if (c.category === row.category) agree++;
    checkSemantics(t, c, row.code, what);
  }
  t.comment(`extra replies accuracy: ${agree}/${extra.length}`);
});

t.test('replies classify the same from their text alone as from the parsed columns', async (t) => {
  // The pipeline hands over parsed replies, the CLI parses text: both roads must agree.
  let same = 0;
  for (const row of [...shared, ...extra]) {
    const parsed = parseReply(row.text);
    if (parsed === null) continue;
    const fromText = classifier.classify({ kind: 'reply', reply: parsed }).category;
    const fromColumns = classifier.classify({ kind: 'reply', reply: { code: row.code, enhanced: row.enhanced, text: row.text } }).category;
    if (fromText === fromColumns) same++;
    else t.comment(`differs (${fromColumns} vs ${fromText}): ${row.text.slice(0, 80)}`);
  }
  t.ok(same >= shared.length + extra.length - 3, `${same} of ${shared.length + extra.length} agree`);
});

function reply(text: string): Classification {
  const parsed = parseReply(text);
  if (parsed === null) throw new Error(`unparsable test reply ${text}`);
  const c = classifier.classify({ kind: 'reply', reply: parsed });
  rulesHit.add(c.rule);
  return c;
}

t.test('text wins over the code where it is more specific', async (t) => {
  t.match(reply('550 5.7.1 <a@example.com>: Recipient address rejected: mailbox full'), {
    category: 'mailbox_full',
    permanent: false,
    suppress: false,
  });
  t.match(reply('550 5.7.1 Service unavailable, please try again later'), { category: 'temporary', permanent: false });
  t.match(reply('554 5.3.0 System busy. Try again later.'), { category: 'temporary', permanent: false });
  t.match(reply('450 4.1.1 <a@example.com>: Recipient address rejected: User unknown in local recipient table'), {
    category: 'user_unknown',
    permanent: true,
    suppress: true,
  });
  t.match(reply('421 4.7.0 This account does not exist'), { category: 'user_unknown', permanent: true, suppress: true });
  t.match(reply('550 5.1.1 <a@icloud.com>: inactive email address'), { category: 'mailbox_disabled', suppress: true });
  t.match(reply('550 5.2.2 Submission quota exceeded'), { category: 'rate_limited', permanent: false });
  t.match(reply('550 5.1.0 <s@example.com>: Sender address rejected: User unknown in local recipient table'), {
    category: 'policy',
    suppress: false,
  });
  t.match(reply('450 4.2.0 <a@example.com>: Recipient address rejected: Greylisted, see https://postgrey.example'), {
    category: 'temporary',
  });
  t.match(reply('530 5.7.0 Must issue a STARTTLS command first'), { category: 'policy', rule: 'tls-required' });
  t.match(reply('552 5.2.2 Mailbox size limit exceeded'), { category: 'mailbox_full' }, 'mailbox size is not message size');
  t.match(reply('552 5.3.4 Message size exceeds fixed limit'), { category: 'message_too_large', permanent: true, suppress: false });
});

t.test('per-reply permanence for blocked, spam, policy and other', async (t) => {
  t.match(reply('554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'), {
    category: 'blocked',
    permanent: true,
    suppress: false,
  });
  t.match(reply('451 4.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'), {
    category: 'blocked',
    permanent: false,
  });
  t.match(reply('550 5.7.1 Message rejected as spam'), { category: 'spam_content', permanent: true });
  t.match(reply('451 4.7.1 Message rejected as spam, try again'), { category: 'spam_content', permanent: false });
  t.match(reply('550 5.7.26 Unauthenticated email is not accepted due to DMARC policy'), { category: 'policy', permanent: true });
  t.match(reply('554 5.5.2 Invalid data in message'), { category: 'other', permanent: true });
});

t.test('fallbacks: enhanced code, then code class', async (t) => {
  const cases: [string, BounceCategory, string][] = [
    ['550 5.1.1 xyz', 'user_unknown', 'enh-bad-mailbox'],
    ['550 5.1.10 xyz', 'domain_invalid', 'enh-bad-domain'],
    ['553 5.1.8 xyz', 'policy', 'sender-address-status'],
    ['550 5.2.1 xyz', 'mailbox_disabled', 'enh-mailbox-disabled'],
    ['452 4.2.2 xyz', 'mailbox_full', 'enh-mailbox-full'],
    ['552 5.3.4 xyz', 'message_too_large', 'enh-too-large'],
    ['452 4.5.3 xyz', 'rate_limited', 'enh-too-many-recipients'],
    ['550 5.4.4 xyz', 'domain_invalid', 'enh-unroutable'],
    ['554 5.4.6 xyz', 'other', 'enh-loop'],
    ['451 4.4.7 xyz', 'temporary', 'enh-expired'],
    ['421 4.7.28 xyz', 'rate_limited', 'enh-flood-deferred'],
    ['550 5.7.28 xyz', 'blocked', 'enh-flood-refused'],
    ['550 5.7.606 xyz', 'blocked', 'enh-banned'],
    ['550 5.7.25 xyz', 'policy', 'enh-auth'],
    ['421 4.7.0 xyz', 'rate_limited', 'enh-security-deferral'],
    ['550 5.7.1 xyz', 'policy', 'enh-security'],
    ['554 5.6.3 xyz', 'policy', 'enh-content'],
    ['451 xyz', 'temporary', 'class-4xx'],
    ['554 xyz', 'other', 'class-5xx'],
    ['250 2.0.0 OK', 'other', 'class-unknown'],
  ];
  for (const [text, category, ruleId] of cases) t.match(reply(text), { category, rule: ruleId }, text);
  t.match(reply('554 xyz'), { permanent: true, suppress: false });
  t.match(reply('250 2.0.0 OK'), { permanent: false, suppress: false }, 'a success is never a permanent failure');
  t.match(reply('550 sorry, no mailbox here by that name (#5.1.1)'), { category: 'user_unknown' });
  t.match(reply('550 nope - 5.2.2'), { category: 'mailbox_full', rule: 'enh-mailbox-full' }, 'a later enhanced code is read');
});

t.test('multi-line replies are read across their continuation prefixes', async (t) => {
  t.match(reply('550-5.1.1 The email account that you tried to reach does 550-5.1.1 not exist. 550 5.1.1 https://example'), {
    category: 'user_unknown',
  });
  t.match(reply('550-5.7.26 Unauthenticated email from example.com is not accepted due to domain\'s 550-5.7.26 DMARC policy.'), {
    category: 'policy',
  });
});

t.test('other phrasings of the same meanings (generalization probes, not corpus rows)', async (t) => {
  const cases: [string, BounceCategory][] = [
['550 Sorry, no such recipient','user_unknown'],['550 5.1.1 Mailbox not found','user_unknown'],['550 Requested action not taken: mailbox unavailable or not local','user_unknown'],
['550 No such person at this address','user_unknown'],['550 User x@y.com has no mailbox','user_unknown'],['550 Recipient does not exist here','user_unknown'],
['511 sorry, no mailbox here by that name (#5.1.1)','user_unknown'],['550 5.1.1 Email address could not be found, or was misspelled (G8)','user_unknown'],['550 That user doesn\'t exist','user_unknown'],
['553 5.1.2 domain not found','domain_invalid'],['550 Domain does not exist','domain_invalid'],['554 5.4.4 Domain does not accept mail (nullMX)','domain_invalid'],['550 Unrouteable mail domain "example.invalid"','domain_invalid'],
['552 5.2.2 Storage quota exceeded','mailbox_full'],['552 Recipient\'s mailbox is over its storage limit','mailbox_full'],['552 5.2.2 User has exceeded storage space','mailbox_full'],['552 Not enough storage space in mailbox','mailbox_full'],
['550 5.2.1 Mailbox disabled, not accepting messages','mailbox_disabled'],['550 User account has been deactivated','mailbox_disabled'],['550 The account has been suspended','mailbox_disabled'],
['450 4.7.1 Too many messages from your IP, try later','rate_limited'],['451 4.7.1 You are sending too fast','rate_limited'],['421 4.7.0 Connection rate exceeded','rate_limited'],['554 5.7.1 Exceeded hourly send limit','rate_limited'],['451 Ratelimited','rate_limited'],
['554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using bl.spamcop.net','blocked'],['554 Your IP is blacklisted','blocked'],['421 4.7.1 Your IP has been temporarily blocked','blocked'],['550 5.7.1 Client host rejected: Access denied','blocked'],
['554 5.7.1 Rejected due to spam content','spam_content'],['550 Message rejected because it contains malware','spam_content'],['554 Suspected spam','spam_content'],
['553 5.7.1 <x@y.com>: Sender address rejected: not owned by user z@y.com','policy'],['530 5.7.0 Authentication required','policy'],['550 5.7.1 Delivery not authorized, message refused','policy'],
['553 5.7.1 <x@y.com>: Sender address rejected: not logged in','policy'],['550 5.7.1 Message rejected: the message does not meet our DKIM requirements','policy'],
['552 Message too large','message_too_large'],['552 5.2.3 Message exceeds maximum size','message_too_large'],['552 message size exceeds limit','message_too_large'],
['451 4.3.0 Temporary server error. Please try again later','temporary'],['421 4.3.2 Service shutting down','temporary'],['451 4.3.0 Mail server temporarily rejected message','temporary'],
['554 5.7.0 Too many hops','other'],['550 5.1.1 User unknown, try again later','user_unknown'],
['550 Unknown user','user_unknown'],['550 5.1.1 <x>: Recipient address rejected: undeliverable address: host mx.example.com said: 550 5.1.1 User unknown','user_unknown'],
['421 4.7.0 [GL01] Message from (1.2.3.4) temporarily deferred - 4.16.50. Please refer to http://postmaster.yahoo.com/errors/postmaster-21.html','temporary'],
['550 5.7.1 Messages from 1.2.3.4 refused: listed by psbl.surriel.com','blocked'],['550 Empfänger unbekannt','user_unknown'],['550 Destinatario inexistente','user_unknown'],
['550 5.2.1 Mailbox inactive','mailbox_disabled'],['550 Mailbox is inactive','mailbox_disabled'],['554 Mailbox locked','mailbox_disabled'],['550 Adresse e-mail inconnue','user_unknown'],
['550 Benutzerkonto existiert nicht','user_unknown'],['550 Utilisateur inconnu','user_unknown'],['550 La adresse no existe','user_unknown'],['451 Bitte versuchen Sie es später erneut','temporary'],
  ];
  for (const [text, category] of cases) t.match(reply(text), { category }, text);
});

t.test('network failures', async (t) => {
  const net = (error: 'dns' | 'connect' | 'tls' | 'timeout' | 'protocol' | 'local', message: string) => {
    const c = classifier.classify({ kind: 'error', error, message });
    rulesHit.add(c.rule);
    return c;
  };
  t.match(net('dns', 'queryMx ESERVFAIL example.com'), { category: 'temporary', permanent: false, suppress: false });
  t.match(net('dns', 'example.invalid: NXDOMAIN'), { category: 'domain_invalid', permanent: true, suppress: true });
  t.match(net('dns', 'example.com publishes a null MX (RFC 7505)'), { category: 'domain_invalid', permanent: true });
  t.match(net('connect', 'connect ECONNREFUSED 192.0.2.1:25'), { category: 'temporary', permanent: false });
  t.match(net('timeout', 'greeting not received in 30000 ms'), { category: 'temporary', permanent: false });
  t.match(net('protocol', 'unexpected line from server'), { category: 'temporary' });
  t.match(net('local', 'EMFILE: too many open files'), { category: 'temporary', rule: 'local' }, "this relay's side, named apart");
  t.match(net('connect', 'connect ECONNREFUSED 192.0.2.1:25'), { rule: 'net-connect' });
  t.match(net('tls', 'certificate has expired'), { category: 'policy', permanent: false, suppress: false });
  t.match(net('connect', 'NXDOMAIN'), { category: 'temporary' }, 'only the DNS stage speaks about domains');
});

t.test('isRateLimit', async (t) => {
  t.equal(isRateLimit(reply('421 4.7.0 Too many connections from your IP, slow down')), true);
  t.equal(isRateLimit(reply('550 5.1.1 User unknown')), false);
});

t.test('the table follows DESIGN.md semantics and is immutable', async (t) => {
  const ids = new Set<string>();
  for (const r of DEFAULT_RULES) {
    t.notOk(ids.has(r.id), `unique id ${r.id}`);
    ids.add(r.id);
    t.ok(Object.isFrozen(r), `${r.id} frozen`);
    const semantics = CATEGORY_SEMANTICS[r.category];
    if (r.id === 'net-tls') {
      t.equal(r.permanent, false, 'a TLS failure is never permanent');
      continue;
    }
    t.equal(r.permanent, semantics.permanent, `${r.id}: permanent follows ${r.category}`);
    t.equal(r.suppress, semantics.suppress, `${r.id}: suppress follows ${r.category}`);
  }
  t.ok(Object.isFrozen(DEFAULT_RULES));
  t.ok(Object.isFrozen(classifier));
  const c = reply('550 5.1.1 User unknown');
  t.ok(Object.isFrozen(c), 'verdicts are shared, so they are frozen');
});

t.test('custom tables compile, and bad ones are refused', async (t) => {
  const custom = createClassifier([
    rule('custom-vip', 'temporary', { text: /\bvip\b/i }),
    rule('custom-code', 'blocked', { codes: [554] }),
  ]);
  t.match(custom.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: '550 VIP only' } }), { rule: 'custom-vip' });
  t.match(custom.classify({ kind: 'reply', reply: { code: 554, enhanced: null, text: '554 no' } }), {
    rule: 'custom-code',
    permanent: true,
  });
  t.match(custom.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: '550 no' } }), {
    category: 'other',
    permanent: true,
    rule: 'none',
  });
  t.match(custom.classify({ kind: 'error', error: 'dns', message: 'x' }), { category: 'other', permanent: false, rule: 'none' });
  const stateful = createClassifier([rule('g', 'temporary', { text: /x/gi })]);
  const input = { kind: 'reply', reply: { code: 550, enhanced: null, text: '550 x' } } as const;
  t.equal(stateful.classify(input).rule, 'g');
  t.equal(stateful.classify(input).rule, 'g', 'a global flag does not make results alternate');
  t.throws(() => createClassifier([rule('a', 'other', {}), rule('a', 'other', {})]), { code: 'FERRY_ERR_CONFIG' });
  t.throws(() => createClassifier([{ ...rule('b', 'other', {}), category: 'nope' } as unknown as BounceRule]), {
    code: 'FERRY_ERR_CONFIG',
  });
  t.throws(() => createClassifier([rule('c', 'other', { codeClass: [9] })]), { code: 'FERRY_ERR_CONFIG' });
  // Patterns are no longer merged into one alternation, so a backreference keeps its meaning.
  t.equal(createClassifier([rule('d', 'other', { text: /(a)\1/ })]).classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: 'xaa' } }).rule, 'd');
});

t.test('wordings the corpus taught (issue 18)', async (t) => {
  // Session 11: classes of cross-validated misses (corpus guide P1, P2, P7, P8).
  t.match(reply('550 5.7.1 Access denied'), { category: 'policy' }, 'a bare "access denied" names no block (P1)');
  t.match(reply('550 Host blocked for spamming'), { category: 'blocked', rule: 'spam-sender' }, 'spam said of the sender (P2)');
  t.match(reply('550 Denied due to spam list'), { category: 'blocked', rule: 'spam-sender' });
  t.match(reply('550 5.7.1 This message was classified as spam'), { category: 'spam_content' }, 'spam said of the message (P2)');
  t.match(reply('554 5.3.0 unknown mailer error 255'), { category: 'other', permanent: true, rule: 'mailer-error' });
  const mailerNoCode = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'command died with status 1' } });
  rulesHit.add(mailerNoCode.rule);
  t.match(mailerNoCode, { category: 'other', rule: 'mailer-error-no-code' });
  t.match(reply('502 5.5.1 Unsupported command'), { category: 'other', rule: 'protocol' });
  t.match(reply('550 5.6.0 Body line too long (see RFC2822 section 3.5)'), { category: 'policy', rule: 'line-too-long' }, 'a line-length limit is format (P8)');
  t.match(reply('521 Command line too long'), { category: 'other' });
  t.match(reply('552 5.3.4 Message size exceeds fixed maximum message size'), { category: 'message_too_large' });
  t.match(reply('421 4.4.5 Service unavailable, concurrency limit reached'), { category: 'rate_limited', permanent: false });
  // "Try again" under a 5xx is boilerplate around a refusal: the rest of the table decides.
  t.match(reply('451 Server busy, try again later'), { category: 'temporary', rule: 'try-later' });
  t.not(reply('550 Requested action not taken, please try again later').rule, 'try-later', 'no try-later under a 5xx');
  const retryNoCode = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'Server load too high, please try again later.' } });
  rulesHit.add(retryNoCode.rule);
  t.match(retryNoCode, { category: 'temporary', permanent: false, rule: 'try-later-no-code' });
  // So are "temporarily", "busy" and "connection refused".
  t.match(reply('451 4.3.0 Temporary server error'), { category: 'temporary', permanent: false, rule: 'temporary-wording' });
  const tempNoCode = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'mail server temporarily unavailable' } });
  rulesHit.add(tempNoCode.rule);
  t.match(tempNoCode, { category: 'temporary', rule: 'temporary-wording-no-code' });
  t.not(reply('550 Connection refused').rule, 'temporary-wording', 'a 5xx connection refusal is left to the rest of the table');
  t.match(reply('421 4.7.20 Temporary error during DKIM verification'), { category: 'temporary', rule: 'temporary-check-failure' }, 'a check that could not be done (P5)');
  t.match(reply('451 4.7.1 Email temporarily rejected per DMARC policy'), { category: 'policy' }, 'a requirement not met, under a 4xx (P5)');
  t.match(reply('451 4.7.5 TLS negotiation failed'), { category: 'policy', permanent: false, rule: 'tls-required' }, 'TLS is policy, retried under a 4xx');
  t.match(reply('550 User unknown (Remote host said: 550 User unknown)'), { category: 'user_unknown' }, 'a host that said something is not an unknown host');
  // Refusals at MAIL FROM are about the sender; a 4xx there is left to the deferral rules.
  t.match(reply('550 5.7.1 Access denied (in reply to MAIL FROM command)'), { category: 'policy', permanent: true, rule: 'refused-at-mail-from' });
  const atMailFrom = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'access denied (in reply to mail from command)' } });
  rulesHit.add(atMailFrom.rule);
  t.match(atMailFrom, { category: 'policy', rule: 'refused-at-mail-from-no-code' });
  t.match(reply('451 4.3.0 Server busy, try again later (in reply to MAIL FROM command)'), { category: 'temporary', permanent: false });
  t.match(reply('550 5.7.1 Your IP is listed on a blocklist (in reply to MAIL FROM command)'), { category: 'blocked' });
  t.match(reply('550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains'), { category: 'policy', rule: 'sender-rejected' });
  t.match(reply('552 5.2.2 Too much mail data recipient@example.jp'), { category: 'mailbox_full', rule: 'mailbox-count-full' });
  t.match(reply('552 5.3.4 Max message size exceeded'), { category: 'message_too_large', rule: 'message-size-limit' });
  t.match(reply('451 4.4.0 retry timeout exceeded'), { category: 'temporary', permanent: false });
  t.match(reply('554 5.0.0 Sorry, I wasn\'t able to establish an SMTP connection. I\'m not going to try again; this message has been in the queue too long.'), { category: 'temporary', permanent: false });
  t.match(reply('#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##'), { category: 'user_unknown' });
  t.match(reply('550 5.7.1 Your message was rejected because you are not a member of this group'), { category: 'policy' });
  t.match(reply('421 4.7.0 too many errors from your ip'), { category: 'rate_limited', permanent: false });
  t.match(reply('550 5.7.1 Sender IP address rejected'), { category: 'blocked' });
  t.match(reply('550 5.2.2 Postfach voll, Speicherplatz nicht ausreichend'), { category: 'mailbox_full', permanent: false });
  t.match(reply('550 5.1.1 Requested action not taken: mailbox not present'), { category: 'user_unknown' });
  t.match(reply('550 5.7.1 DNS lookup failure: host mx.example.invalid not found'), { category: 'domain_invalid' });
  t.match(reply('554 5.7.1 Message rejected: blacklisted URL in message body'), { category: 'spam_content', rule: 'content-blocklisted' });
  t.match(reply('451 4.4.3 DNS lookup failed: SERVFAIL'), { category: 'temporary', rule: 'dns-trouble' });
  // Full mailboxes in other languages, without a code that would say so.
  for (const text of ['550 Das Postfach des Empfängers ist überfüllt', '550 收件人邮箱空间已满', '550 用户容量不足', '550 메일함 용량이 가득 찼습니다', '550 Skrzynka odbiorcy jest pełna']) {
    t.match(reply(text), { category: 'mailbox_full', permanent: false }, text);
  }
  // Throttling and reputation worded without the usual keywords.
  t.match(reply('550 5.7.1 You are sending too fast, please slow'), { category: 'rate_limited', permanent: false });
  t.match(reply('554 发送频率过快'), { category: 'rate_limited' });
  t.match(reply('421 4.7.0 Your IP has poor sending history'), { category: 'blocked', permanent: false });
  t.match(reply('550 Mail from your server is not accepted'), { category: 'blocked', permanent: true });
  // Chinese providers' counts over a limit, and NetEase's codes for them and for a suspended IP
  // (whose reason mentions spam: the IP is what is refused).
  t.match(reply('550 MI:STC 发件人当天内累计邮件数量超过限制'), { category: 'rate_limited', permanent: false });
  t.match(reply('421 连接过于频繁'), { category: 'rate_limited' });
  t.match(reply('554 HL:IHU 发信IP因发送垃圾邮件或存在异常的连接行为，被暂时挂起'), { category: 'blocked', permanent: true });
  t.match(reply('550 5.7.1 Ihre IP-Adresse steht auf einer Sperrliste'), { category: 'blocked' });
  t.match(reply('550 该IP已被列入黑名单'), { category: 'blocked' });
  t.match(reply('550 A URL in this email is listed on a blocklist'), { category: 'spam_content', rule: 'content-blocklisted' });
  t.match(reply('552 5.2.2 mail file size exceeds the maximum size allowed for mail delivery'), { category: 'mailbox_full' });
  t.match(reply('450 4.4.3 Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again'), {
    category: 'temporary', permanent: false, rule: 'dns-try-again' });
  t.match(reply('550 5.4.4 Host or domain name not found. Name service error for name=example.com type=MX: Host not found'), { category: 'domain_invalid' });
  // A fragment of a report with no reply code at all.
  const noCode = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'recipient rejected' } });
  rulesHit.add(noCode.rule);
  t.match(noCode, { category: 'user_unknown', rule: 'recipient-refused-no-code' });
  t.match(classifier.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: 'recipient rejected' } }), { rule: 'recipient-rejected' });
  // A protocol complaint under a 4xx is a deferral; a broken remote system, in a report without
  // a code, is retried.
  t.match(reply('451 4.5.0 SMTP protocol violation'), { category: 'temporary', rule: 'protocol-deferred' });
  const fault = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'Unable to contact LDAP server' } });
  rulesHit.add(fault.rule);
  t.match(fault, { category: 'temporary', rule: 'remote-system-fault' });
  // Wordings no written rule knows fall to the learned vocabulary (vocabulary.test.ts).
  t.match(reply('550 your ip address is listed, contact postmaster'), { category: 'blocked', rule: 'vocabulary' });
  // Unsure, it still gives its best guess before the code-class fallbacks (with or without a
  // code), and a weak catch-all rule yields to it when it disagrees with confidence.
  t.match(reply('550 Rejected'), { category: 'policy', permanent: true, rule: 'vocabulary-guess' });
  const guessed = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'not accepted here' } });
  rulesHit.add(guessed.rule);
  // Which refusal "not accepted here" is, the training data decides (blocked and policy both
  // read so); what is pinned is that the guess is made, as a refusal, and without a code is not
  // taken as permanent.
  t.match(guessed, { rule: 'vocabulary-guess-no-code', permanent: false });
  t.ok(['blocked', 'policy'].includes(guessed.category), `a refusal category (${guessed.category})`);
  const unknown = classifier.classify({ kind: 'reply', reply: { code: 0, enhanced: null, text: 'something odd happened' } });
  t.match(unknown, { category: 'other', rule: 'class-unknown' }, 'letter triples alone are no known word');
  t.match(reply('554 xyz'), { category: 'other', rule: 'class-5xx' }, 'no known word: the code class decides');
  t.match(reply('451 Blocked, please try again later'), { category: 'temporary', permanent: false, rule: 'vocabulary-over-blocked' });
  t.match(reply('550 5.7.1 Sender blocked'), { category: 'blocked', rule: 'blocked' }, 'the weak rule answers when the model agrees or is unsure');
  t.match(reply('550 5.1.1 192.0.2.1 does not like recipient. Remote host said: 550 5.1.1 <a@example.jp>... User Unknown Giving up on 192.0.2.1.'), { category: 'user_unknown' });
});

/** [code, enhanced, text, category, rule id]: a reply and the rule that must answer it. */
type RuleCase = [number, string | null, string, string, string];
function expectRules(t: Test, cases: readonly RuleCase[]): void {
  for (const [code, enhanced, text, category, id] of cases) {
    const c = classifier.classify({ kind: 'reply', reply: { code, enhanced, text } });
    rulesHit.add(c.rule);
    t.match(c, { category, rule: id }, text);
  }
}

t.test('provider codes and non-English wordings (rules-languages.ts, development rows of languages.tsv)', async (t) => {
  const cases: RuleCase[] = [
    [421, null, '421 HL:REP 该IP发送行为异常，存在接收者大量不存在情况，被临时禁止连接。', 'blocked', 'netease-ip-blocked'],
    [421, null, '421 HL:ICC 该IP同时并发连接数过大，超过了网易的限制，被临时禁止连接。', 'rate_limited', 'netease-rate'],
    [450, null, '450 WM:BLU 此用户不在网易允许的发信用户列表里', 'policy', 'netease-sender'],
    [451, null, '451 DT:SPM ,please try again 邮件正文带有垃圾邮件特征或发送环境缺乏规范性，被临时拒收。', 'spam_content', 'netease-spam'],
    [450, null, '450 MI:CEL 发送方出现过多的错误指令。请检查发信程序', 'other', 'netease-protocol'],
    [0, null, '该用户不存在', 'user_unknown', 'cjk-user-unknown'],
    [0, null, '该服务器IP的发信频率大幅度超过腾讯企业邮箱限制', 'rate_limited', 'cjk-rate-limited'],
    [0, null, '垃圾邮件退信:Content reject/Spam denied', 'spam_content', 'cjk-spam'],
    [0, null, '收信人收件箱已满，无法收信', 'mailbox_full', 'cjk-mailbox-full'],
    [0, null, '用户由于长时间未登录处于休眠状态', 'mailbox_disabled', 'cjk-dormant'],
    [0, null, '域名不存在:DNS query error', 'domain_invalid', 'cjk-domain'],
    [550, '5.7.1', 'Wiadomosc zostala odrzucona przez system antyspamowy', 'spam_content', 'antispam-rejected'],
    [550, '5.1.2', 'Esta casilla ha expirado por falta de uso', 'mailbox_disabled', 'unused-mailbox'],
    [550, null, '550 mwinf5c10 ME Service refuse. Veuillez essayer plus tard.', 'blocked', 'service-refused'],
    [421, null, '421 rDNS Temporary Failure', 'temporary', 'temporary-check-failure'],
    [550, null, "550-'Transaction failed. (SPAM_SUSPECT:IP_CONTROL) (http://cleanip.paran.com)'", 'blocked', 'sender-blocked-wording'],
    [550, null, '550 Only one Subject header allowed. See RFC 5322, Section 3.6', 'policy', 'header-format'],
    [555, null, '555 helohost error.(helo 主机信息检查失败)', 'policy', 'helo-identity'],
    [553, null, '553 host denies relay. (拒绝中继)', 'policy', 'relay-refused'],
    [554, null, '554 sender is unvalidated. (发信人地址不合法)', 'policy', 'sender-identity'],
    [501, null, '501 user: recipient address must contain a domain', 'user_unknown', 'bad-recipient-address'],
    [451, null, '451 qq trouble in home directory', 'mailbox_full', 'mailbox-size-exceeded'],
    [550, '5.1.1', '550 5.1.1 Inactive mbox', 'mailbox_disabled', 'mailbox-inactive-wording'],
    [550, null, '550 Domain frequency limited', 'rate_limited', 'slow-down'],
  ];
  expectRules(t, cases);
});

t.test('wording families fixed from CV disagreements, session 12 (development rows; two with another reply code)', async (t) => {
  const cases: RuleCase[] = [
    [450, null, '450 Rspamd scan timeout', 'temporary', 'check-unavailable'],
    [0, null, 'SPF - no response', 'temporary', 'check-unavailable-no-code'],
    [0, null, 'Virus scanner timed out', 'temporary', 'check-unavailable-no-code'],
    [421, '4.7.29', "421 4.7.29 Your email has been rate limited because this message wasn't sent over a TLS connection. Gmail requires all bulk email senders to use TLS/SSL for SMTP connections.", 'policy', 'tls-required'],
    [421, '4.7.0', 'TLS für RCPT-Domain erforderlich, Verbindung wird beendet.', 'policy', 'tls-required'],
    [421, '4.7.0', 'RCPT ドメインには TLS が必要です。接続を閉じます。', 'policy', 'tls-required'],
    [421, '4.7.0', 'RCPT 網域需要使用 TLS,正在關閉連線。', 'policy', 'tls-required'],
    [421, '4.7.0', 'IP 不在 RCPT 網域許可清單中,正在關閉連線。', 'blocked', 'blocklisted'],
    [451, '4.7.500', '451 4.7.500 Server busy. Please try again later from [192.0.2.2]. (AS800)', 'rate_limited', 'rate-limited'],
    [0, '5.1.0', '5.1.0 piWs1j0010jifNx01iWsdh policy violation', 'rate_limited', 'rate-limited'],
    [550, '5.1.0', '550 5.1.0 piWs1j0010jifNx01iWsdh policy violation', 'rate_limited', 'rate-limited'],
    [550, '5.7.0', '550 5.7.0 Local Policy Violation', 'policy', 'site-policy'],
    [0, null, 'spam score exceeded threshold', 'spam_content', 'spam-content'],
    [0, null, 'has failed due to a full mailbox. We have already made numerous attempts', 'mailbox_full', 'mailbox-full'],
    [0, null, 'we have already made numerous attempts to deliver this message', 'temporary', 'relay-gave-up'],
    [0, null, 'mail receiving disabled', 'mailbox_disabled', 'mailbox-disabled'],
    [501, '5.7.27', '501 5.7.27 Domain in MAIL FROM has null MX record', 'policy', 'sender-rejected'],
    [0, null, 'HELO hostname does not exist', 'policy', 'reverse-dns'],
    [501, null, '501 Error: Syntax: HELO hostname', 'other', 'protocol'],
    [503, null, '503 Error: send HELO/EHLO first', 'other', 'protocol'],
    [501, null, 'HELO requires domain/address - see RFC-2821 4.1.1.1', 'other', 'protocol'],
    [550, '5.5.1', 'RFC2821 HELO/EHLO needed', 'other', 'protocol'],
    // Under a 4xx the same usage error is a deferral (corpus guide P7).
    [421, null, '421 please say hello first ...', 'temporary', 'protocol-deferred'],
  ];
  expectRules(t, cases);
});

t.test('everyday wordings in ten languages (rules-multilingual.ts; written probes, not corpus rows)', async (t) => {
  // fixtures/multilingual-probes.tsv: how a German, French, Spanish, Italian, Portuguese, Dutch,
  // Russian, Chinese, Japanese or Korean reply says each common meaning, written from the
  // languages for rules-multilingual.ts (not taken from the corpus, so not a measure of it).
  const lines = readFileSync(new URL('./fixtures/multilingual-probes.tsv', import.meta.url), 'utf8').split('\n');
  t.equal(lines[0], 'category\tcode\tlanguage\ttext');
  const languages = new Set<string>();
  let n = 0;
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const [category, code, language, text] = line.split('\t') as [BounceCategory, string, string, string];
    languages.add(language);
    n++;
    const c = classifier.classify({ kind: 'reply', reply: { code: Number(code), enhanced: null, text: `${code} ${text}` } });
    rulesHit.add(c.rule);
    t.equal(c.category, category, `${language}: ${text} (${c.rule})`);
    t.equal(c.permanent, CATEGORY_SEMANTICS[category].permanent === 'by-code' ? Number(code) >= 500 : CATEGORY_SEMANTICS[category].permanent, `${language}: ${text}: permanence`);
  }
  t.equal(languages.size, 10, 'ten languages');
  t.ok(n >= 150, `${n} probes`);
  // A bilingual reply's English meaning is more specific than its "try again later".
  t.match(classifier.classify({ kind: 'reply', reply: { code: 452, enhanced: null, text: '452 Mailbox full / Bitte versuchen Sie es später erneut' } }), { category: 'mailbox_full' });
  // English replies do not reach these rules through shared letters.
  for (const text of ['550 recipient mailbox volume involved', '550 5.7.1 your IP address was blocked, consider delisting']) {
    t.notMatch(classifier.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text } }).rule, /^ml-/, text);
  }
});

t.test('blocked, rate_limited, policy and spam_content told apart (written probes, not corpus rows)', async (t) => {
  // fixtures/boundary-probes.tsv, written from DESIGN.md's categories: "blocked" is about who
  // sends (the IP, host, network or sending domain is refused or has a poor reputation, spam
  // said of the sender included); "rate_limited" about how much (connections, messages,
  // recipients, volume); "policy" about what the session or message fails to meet
  // (authentication, TLS, PTR/HELO, relaying, a refused sender address, the recipient's own
  // rules); "spam_content" about this message (spam, a virus, a listed link in its body).
  const lines = readFileSync(new URL('./fixtures/boundary-probes.tsv', import.meta.url), 'utf8').split('\n');
  t.equal(lines[0], 'category\tcode\tenhanced\ttext');
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const [category, code, enhanced, text] = line.split('\t') as [BounceCategory, string, string, string];
    const c = classifier.classify({ kind: 'reply', reply: { code: Number(code), enhanced: enhanced || null, text: `${code} ${enhanced} ${text}` } });
    rulesHit.add(c.rule);
    t.equal(c.category, category, `${code} ${enhanced} ${text} (${c.rule})`);
  }
});

t.test('every rule in the table is reached by some test reply', async (t) => {
  // A rule no reply reaches is either dead (shadowed by an earlier one) or untested.
  const unreached = DEFAULT_RULES.map((r) => r.id).filter((id) => !rulesHit.has(id));
  t.same(unreached, [], 'all rules reached');
});
