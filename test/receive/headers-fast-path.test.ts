import t from 'tap';
import addressparser from 'nodemailer/lib/addressparser';
import { readHeaderFacts, simpleMailbox } from '../../src/receive/headers.js';
import { seededRandom } from '../../src/core/random.js';

/** What headers.ts makes of the address parser's answer for one mailbox (the slow path). */
function parsed(value: string): { address: string; name: string | null }[] {
  const out: { address: string; name: string | null }[] = [];
  for (const p of addressparser(value) as { address?: string; name?: string; group?: { address?: string; name?: string }[] }[]) {
    if (Array.isArray(p.group)) for (const g of p.group) out.push({ address: g.address ?? '', name: g.name || null });
    else out.push({ address: p.address ?? '', name: p.name || null });
  }
  return out;
}

t.test('the common forms take the fast path and read as the parser reads them', async (t) => {
  const common = [
    'bench@source.test',
    '<bench@source.test>',
    'Bench Sender <bench@source.test>',
    '"Bench Sender" <bench@source.test>',
    '"Doe, John" <j.doe+tag@mail.example.com>',
    '"O\'Brien-Smith" <ob@x-y.example>',
    '"" <a@b.test>',
    'A@B.TEST',
    'Jo <a@b>',
    'x <no_reply%1@app.example>',
  ];
  for (const v of common) {
    const fast = simpleMailbox(v);
    t.ok(fast, `fast path for ${v}`);
    t.same([fast], parsed(v), v);
  }
});

t.test('anything else goes to the parser', async (t) => {
  for (const v of [
    'a@b.test (comment)',
    '=?utf-8?q?J=C3=B6?= <a@b.test>',
    'name<a@b.test>',
    'Bench  Sender <b@s.test>',
    '"a\\"b" <a@b.test>',
    'a@b.test, c@d.test',
    'undisclosed-recipients:;',
    'group: a@b.test;',
    '"Mr. X"<a@b.test>',
    'Mr. X <a@b.test>',
    'Jö <a@b.test>',
    'a b@c.test',
    '<a@b.test> x',
    '@b.test',
    'a@',
    'a@@b',
    'a@b..test',
    '',
  ]) {
    t.equal(simpleMailbox(v), null, v);
  }
});

t.test('differential: whenever the fast path answers, the parser answers the same (random values)', async (t) => {
  const random = seededRandom(13);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random.next() * xs.length)]!;
  const alphabet = ['a', 'B', '0', '.', '-', '_', '+', '%', ' ', '  ', '"', '<', '>', '@', ',', ';', ':', '(', ')', '\\', "'", '[', ']', 'é'];
  // Mostly characters the fast path accepts, some that it must refuse or the parser treats specially.
  const common = ['a', 'B', 'z', '0', '9', '.', '-', ' '];
  const word = () => Array.from({ length: 1 + Math.floor(random.next() * 6) }, () => pick(random.next() < 0.8 ? common : alphabet)).join('');
  const shapes = [
    () => `${word()}@${word()}`,
    () => `<${word()}@${word()}>`,
    () => `${word()} <${word()}@${word()}>`,
    () => `"${word()}" <${word()}@${word()}>`,
    () => `${word()}${word()}${word()}`,
  ];
  let fast = 0;
  for (let i = 0; i < 50_000; i++) {
    const v = pick(shapes)().trim();
    const got = simpleMailbox(v);
    if (!got) continue;
    fast++;
    const want = parsed(v);
    if (want.length !== 1 || want[0]!.address !== got.address || want[0]!.name !== got.name) {
      t.fail(`fast path differs for ${JSON.stringify(v)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
      return;
    }
  }
  t.ok(fast > 500, `the random values reached the fast path (${fast} times)`);
});

t.test('readHeaderFacts: the same facts with and without the fast path', async (t) => {
  const block = (from: string) => Buffer.from(`From: ${from}\r\nSender: <s@app.example>\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\n`, 'latin1');
  for (const from of ['App <noreply@app.example>', '"App, Inc" <noreply@app.example>', 'App (comment) <noreply@app.example>']) {
    const facts = readHeaderFacts(block(from));
    t.same(facts.from.mailboxes, parsed(from), from);
    t.equal(facts.fromAddress, 'noreply@app.example');
    t.same(facts.sender.mailboxes, [{ address: 's@app.example', name: null }]);
    t.equal(facts.from.outsideAt, 1);
    t.equal(facts.from.outsideAngle, 1);
  }
});
