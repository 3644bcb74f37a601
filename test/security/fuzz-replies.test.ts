import t from 'tap';
import fc from 'fast-check';
import { findEnhancedCode, joinLines, MAX_CLASSIFIED_CHARS, parseReply as classifyParse } from '../../src/classify/parse-reply.js';
import { MAX_REPLY_READ_CHARS, parseReply as deliverParse } from '../../src/deliver/reply.js';
import { createClassifier } from '../../src/classify/classifier.js';
import { growth, LINEAR_RATIO_BOUND } from '../helpers/linear-time.js';

/**
 * Property-based tests for the parsers of SMTP replies (a remote server chooses every byte):
 * the classifier's parseReply and the delivery client's. Both never throw, keep their
 * invariants on any input, read back the replies they are meant for, and take time linear in
 * the input.
 */
const ws = fc.constantFrom(' ', '\t', '\r', '\n', '\r\n', '\u00a0', '\u2028', '\v');
const textish = fc.array(fc.oneof(ws, fc.string({ minLength: 0, maxLength: 4 }), fc.constantFrom('550', '5.1.1', '-', '#', '(', ':')), { maxLength: 40 }).map((a) => a.join(''));
const anyText = fc.oneof(textish, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }));

t.test('joinLines does what the regex it replaced did', async (t) => {
  fc.assert(
    fc.property(anyText, (s) => {
      // The old regex is the reference (small inputs only: it is quadratic).
      t.equal(joinLines(s), s.replace(/\s*[\r\n]+\s*/g, ' '));
    }),
    { numRuns: 2000 },
  );
});

t.test('classifier parseReply: never throws; code, enhanced code and text keep their shape', async (t) => {
  fc.assert(
    fc.property(anyText, (s) => {
      const r = classifyParse(s);
      if (r === null) return;
      t.ok(r.code >= 100 && r.code <= 599, 'a reply code');
      t.notOk(/[\r\n]/.test(r.text), 'the text is one line');
      t.ok(r.enhanced === null || /^[245]\.[0-7]\.\d{1,3}$/.test(r.enhanced), `enhanced ${r.enhanced}`);
      t.equal(r.text, r.text.trim());
      const any = findEnhancedCode(r.text);
      t.ok(any === null || /^[245]\.[0-7]\.\d{1,3}$/.test(any));
    }),
    { numRuns: 3000 },
  );
});

const replyLines = fc.record({
  code: fc.integer({ min: 200, max: 599 }),
  sub: fc.integer({ min: 0, max: 7 }),
  detail: fc.integer({ min: 0, max: 999 }),
  lines: fc.array(fc.stringMatching(/^[A-Za-z][ -~]{0,40}$/), { minLength: 1, maxLength: 4 }),
});

t.test('both parsers read back a well-formed multi-line reply', async (t) => {
  fc.assert(
    fc.property(replyLines, ({ code, sub, detail, lines }) => {
      const cls = String(code)[0];
      const enhanced = `${cls}.${sub}.${detail}`;
      const raw = lines.map((l, i) => `${code}${i === lines.length - 1 ? ' ' : '-'}${enhanced} ${l}`).join('\r\n');
      const c = classifyParse(raw);
      t.equal(c?.code, code);
      t.equal(c?.enhanced, cls === '3' ? null : enhanced);
      const d = deliverParse(raw);
      t.equal(d?.code, code);
      t.equal(d?.enhanced, cls === '3' ? null : enhanced);
      t.notOk(/[\r\n]/.test(d!.text));
    }),
    { numRuns: 1000 },
  );
});

t.test('delivery parseReply: never throws; the enhanced code is believed only with the same class', async (t) => {
  fc.assert(
    fc.property(anyText, (s) => {
      const r = deliverParse(s);
      if (r === null) return;
      t.ok(r.code >= 0 && r.code <= 999);
      t.ok(r.enhanced === null || r.enhanced[0] === String(r.code)[0]);
    }),
    { numRuns: 3000 },
  );
});

t.test('classifying any reply never throws and names a category', async (t) => {
  const classifier = createClassifier();
  fc.assert(
    fc.property(anyText, (s) => {
      const reply = classifyParse(`550 ${s}`)!;
      t.type(classifier.classify({ kind: 'reply', reply }).category, 'string');
    }),
    { numRuns: 1000 },
  );
});

const HOSTILE: Record<string, (n: number) => string> = {
  'whitespace runs with line breaks': (n) => `550 ${' \t\r\n'.repeat(n / 4)}x`,
  'whitespace without a line break': (n) => `550 a${' '.repeat(n)}b\n`,
  'dotted numbers': (n) => `550 ${'5.1.'.repeat(n / 4)}1`,
  'separators before codes': (n) => `550 ${'(5.1.'.repeat(n / 5)}`,
  'domain-like labels': (n) => `553 ${'ab1.'.repeat(n / 4)} does not`,
  'many short lines': (n) => '550-x\r\n'.repeat(n / 7) + '550 end',
};

t.test('reply parsing and classification take time linear in the reply, and read a bounded part of it', async (t) => {
  const classifier = createClassifier();
  const run = (s: string) => {
    deliverParse(s);
    const r = classifyParse(s);
    if (r) classifier.classify({ kind: 'reply', reply: r });
  };
  // Up to the bound both parsers read: linear (each input run often enough to be timed).
  const bound = Math.min(MAX_CLASSIFIED_CHARS, MAX_REPLY_READ_CHARS);
  const repeated = (s: string) => {
    for (let i = 0; i < 64; i++) run(s);
  };
  for (const [name, make] of Object.entries(HOSTILE)) {
    const g = await growth(make, repeated as (i: never) => unknown, bound / 8);
    t.ok(g.ratio < LINEAR_RATIO_BOUND, `${name}, up to ${bound} characters: 8x the input costs ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
  }
  // Past it: a hostile reply of half a megabyte costs what its first part does.
  for (const [name, make] of Object.entries(HOSTILE)) {
    const g = await growth(make, run as (i: never) => unknown, 64 * 1024);
    t.ok(g.ratio < LINEAR_RATIO_BOUND, `${name}: 8x the input costs ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
  }
});

t.test('a reply longer than the bound is read up to it', async (t) => {
  const huge = `550 5.1.1 ${'no such user here '.repeat(100_000)}`;
  const d = deliverParse(huge)!;
  t.match(d, { code: 550, enhanced: '5.1.1' });
  t.ok(d.text.length <= MAX_REPLY_READ_CHARS, `delivery keeps ${d.text.length} characters`);
  const c = classifyParse(huge)!;
  t.match(c, { code: 550, enhanced: '5.1.1' });
  t.ok(c.text.length <= MAX_CLASSIFIED_CHARS, `the classifier reads ${c.text.length} characters`);
  t.equal(createClassifier().classify({ kind: 'reply', reply: { code: 550, enhanced: '5.1.1', text: huge } }).category, 'user_unknown', 'and still classifies it by its start');
});
