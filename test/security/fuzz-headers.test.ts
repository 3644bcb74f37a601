import t from 'tap';
import fc from 'fast-check';
import { joinHeaderFields, parseHeaderFields, splitHeader } from '../../src/core/header-block.js';
import { Canonicalizer } from '../../src/receive/canonicalize.js';
import { readHeaderFacts, outsideSigns } from '../../src/receive/headers.js';
import { parseHeaderBlock } from '../../src/sign/canonicalize.js';
import { rewriteFromHeader } from '../../src/policy/dmarc-headers.js';
import { growth, LINEAR_RATIO_BOUND } from '../helpers/linear-time.js';

/**
 * Property-based tests for the one header parser (src/core/header-block.ts) and the intake
 * canonicalizer in front of it: whatever the client sends, the stored header block has only
 * CRLF line ends, every byte of it belongs to exactly one parsed field, the signer and the
 * checks see the same fields, and parsing is linear.
 */
const byteChunk = fc.oneof(
  fc.constantFrom('\r', '\n', '\r\n', ' ', '\t', ':', 'From: ', 'from :', 'Sender:', ' From: x@y', 'X-A: 1', '\r\n\r\n', '\u00e9', 'a@b.test', ',', '"', '<', '>'),
  fc.string({ maxLength: 6 }),
);
const rawMessage = fc.array(byteChunk, { maxLength: 60 }).map((a) => Buffer.from(a.join(''), 'latin1'));

function canonical(raw: Buffer, cuts: number[]): { headers: Buffer; body: Buffer } {
  const c = new Canonicalizer(1 << 20);
  const body: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((x) => x < raw.length)].sort((a, b) => a - b)) {
    body.push(c.push(raw.subarray(at, cut)));
    at = cut;
  }
  body.push(c.push(raw.subarray(at)));
  const { headers, bodyTail } = c.finish();
  return { headers, body: Buffer.concat([...body, bodyTail]) };
}

const bareBreak = (b: Buffer) => {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] !== 0x0a) return true;
    if (b[i] === 0x0a && b[i - 1] !== 0x0d) return true;
  }
  return false;
};

t.test('canonical form: only CRLF, the same whatever the chunking, the header block ends with its blank line', async (t) => {
  fc.assert(
    fc.property(rawMessage, fc.array(fc.nat(400), { maxLength: 5 }), (raw, cuts) => {
      const whole = canonical(raw, []);
      const split = canonical(raw, cuts);
      t.same(split.headers, whole.headers);
      t.same(split.body, whole.body);
      t.notOk(bareBreak(whole.headers), 'no bare CR or LF in the header block');
      t.notOk(bareBreak(whole.body), 'none in the body');
      t.ok(whole.headers.subarray(-2).equals(Buffer.from('\r\n')));
    }),
    { numRuns: 1500 },
  );
});

t.test('every line of a CRLF block is in exactly one field: joining the fields gives the block back', async (t) => {
  fc.assert(
    fc.property(rawMessage, (raw) => {
      const { header } = splitHeader(canonical(raw, []).headers);
      const fields = parseHeaderFields(header);
      t.same(joinHeaderFields(fields), header);
      for (const f of fields) {
        t.notOk(f.value.includes('\r') || f.value.includes('\n'), 'values are unfolded');
        t.ok(f.orphan ? f.key === '' : true);
      }
      t.same(
        parseHeaderBlock(header).map((f) => [f.key, f.raw]),
        fields.map((f) => [f.key, f.raw]),
        'the DKIM signer sees the same fields',
      );
      const facts = readHeaderFacts(header);
      t.equal(facts.from.count, fields.filter((f) => f.key === 'from').length, 'the checks count the same From fields');
      t.equal(facts.sender.count, fields.filter((f) => f.key === 'sender').length);
      const rewritten = parseHeaderFields(splitHeader(rewriteFromHeader(header, 'n@ours.test', 'r@x.test')).header);
      t.same(rewritten.filter((f) => f.key === 'from').map((f) => f.value), ['n@ours.test'], 'the DMARC rewrite leaves exactly one From');
    }),
    { numRuns: 1500 },
  );
});

const fieldName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
const valueLine = fc.stringMatching(/^[!-~][ -~]{0,30}$/);
const field = fc.record({ name: fieldName, lines: fc.array(valueLine, { minLength: 1, maxLength: 3 }), fold: fc.constantFrom(' ', '\t') });

t.test('round trip: generated fields parse back with their names, raw bytes and unfolded values', async (t) => {
  fc.assert(
    fc.property(fc.array(field, { maxLength: 12 }), (fields) => {
      const raws = fields.map((f) => `${f.name}: ${f.lines.join(`\r\n${f.fold}`)}`);
      const block = Buffer.from(`${raws.join('\r\n')}\r\n\r\n`, 'latin1');
      const parsed = parseHeaderFields(splitHeader(block).header);
      t.same(
        parsed.map((p) => [p.name, p.key, p.raw.toString('latin1'), p.value]),
        fields.map((f, i) => [f.name, f.name.toLowerCase(), raws[i], f.lines.join(f.fold).trim()]),
      );
    }),
    { numRuns: 1000 },
  );
});

t.test('From facts: mailboxes and the signs outside quotes never throw, whatever the value', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 60 }), (a, b) => {
      const facts = readHeaderFacts(Buffer.from(`From: ${a}${b}\r\nSender: ${b}\r\n\r\n`.replace(/[\r\n]+(?!$)/g, ' '), 'utf8'));
      t.ok(facts.from.count <= 1);
      const signs = outsideSigns(a);
      t.ok(signs.outsideAt <= a.length && signs.outsideAngle <= a.length);
    }),
    { numRuns: 1000 },
  );
  t.same(outsideSigns('"a@b" (c@d) x@y.test'), { outsideAt: 1, outsideAngle: 0 });
  t.same(outsideSigns('"a\\"@b" <x@y.test>'), { outsideAt: 1, outsideAngle: 1 });
  t.same(outsideSigns('(a (b@c) \\) d@e) x@y.test'), { outsideAt: 1, outsideAngle: 0 });
});

const HOSTILE: Record<string, (n: number) => Buffer> = {
  'many short fields': (n) => Buffer.from('X: 1\r\n'.repeat(n / 6)),
  'one field folded many times': (n) => Buffer.from(`Subject: x${'\r\n a'.repeat(n / 4)}\r\n`),
  'continuation lines with no field': (n) => Buffer.from(`${' a\r\n'.repeat(n / 4)}From: x@y\r\n`),
  'lines without a colon': (n) => Buffer.from('abc\r\n'.repeat(n / 5)),
  'bare CRs in one line': (n) => Buffer.from(`X-A: ${'\r'.repeat(n)}\r\n`),
  'a long From list': (n) => Buffer.from(`From: ${'a@b.c, '.repeat(n / 7)}\r\n`),
};

// 8 KB → 64 KB: intake bounds a header block to MAX_HEADER_LINES lines and smtp.maxHeaderBytes;
// past a few hundred KB of tiny fields the garbage collector's share of the CPU time grows with
// the heap and blurs the measure, while a quadratic parser already shows 64x at this size.
t.test('canonicalizing and parsing a header block take time linear in its size', async (t) => {
  const run = (raw: Buffer) => {
    const { headers } = canonical(raw, []);
    readHeaderFacts(headers);
    parseHeaderBlock(headers);
  };
  for (const [name, make] of Object.entries(HOSTILE)) {
    const g = await growth(make, run as (i: never) => unknown, 8 * 1024);
    t.ok(g.ratio < LINEAR_RATIO_BOUND, `${name}: 8x the input costs ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
  }
});
