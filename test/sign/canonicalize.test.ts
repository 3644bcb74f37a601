import t from 'tap';
import { createHash } from 'node:crypto';
import { parseHeaderBlock, relaxedHeader, RelaxedBodyHash } from '../../src/sign/canonicalize.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('base64');
const bodyHash = (body: string | Buffer) => {
  const h = new RelaxedBodyHash();
  h.update(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
  return h.digest();
};

t.test('RFC 6376 §3.4.6 example, relaxed/relaxed', async (t) => {
  const fields = parseHeaderBlock(Buffer.from('A: X\r\nB : Y\t\r\n\tZ  \r\n'));
  t.same(fields.map((f) => relaxedHeader(f.raw)), ['a:X', 'b:Y Z']);
  t.equal(bodyHash(' C \r\nD \t E\r\n\r\n\r\n'), sha(' C\r\nD E\r\n'));
});

t.test('body table', async (t) => {
  const cases: [string, string][] = [
    ['', ''],
    ['\r\n', ''],
    ['\r\n\r\n  \r\n', ''],
    ['x', 'x\r\n'],
    ['x  \t', 'x\r\n'],
    ['\tx\r\n', ' x\r\n'],
    ['a\r\n\r\nb\r\n\r\n', 'a\r\n\r\nb\r\n'],
    ['a\rb\r\n', 'a\rb\r\n'],
    ['a\r', 'a\r\r\n'],
    ['\xe9\xa0t\xe9 \xa0\r\n', '\xe9\xa0t\xe9 \xa0\r\n'],
  ];
  for (const [input, canonical] of cases) t.equal(bodyHash(input), sha(Buffer.from(canonical, 'latin1')), JSON.stringify(input));
});

t.test('only SP and HTAB are whitespace: byte 0xA0 (in UTF-8 "à") is kept', async (t) => {
  // RFC 6376 WSP is SP / HTAB. mailauth's relaxed header code uses JS \s, which also matches
  // U+00A0 in its latin1 view, so it canonicalizes "à" differently from RFC-following verifiers
  t.equal(relaxedHeader(Buffer.from('Subject: voilà  à \r\n\tici', 'utf8')), Buffer.from('subject:voilà à ici', 'utf8').toString('latin1'));
});

t.test('header block parsing keeps folded lines and raw bytes', async (t) => {
  const block = Buffer.from('Subject: a\r\n b\r\nTo: x\r\n\tX-Odd\r\nFrom:y\r\n');
  const f = parseHeaderBlock(block);
  t.same(f.map((x) => [x.key, x.raw.toString()]), [['subject', 'Subject: a\r\n b'], ['to', 'To: x\r\n\tX-Odd'], ['from', 'From:y']]);
});

/**
 * RFC 6376 §3.4.4 written the plain way, on a latin1 string: lines end at CRLF or a bare LF (a
 * bare CR is an ordinary octet), runs of SP/HTAB become one SP, whitespace at a line's end goes,
 * empty lines at the end go, and a non-empty body ends with CRLF.
 */
function referenceRelaxedBody(s: string): string {
  const canon = (l: string) => l.replace(/[ \t]+/g, ' ').replace(/ $/, '');
  const parts = s.split(/\r?\n/);
  const last = parts.pop()!;
  const lines = parts.map(canon);
  if (canon(last) !== '') lines.push(canon(last));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => `${l}\r\n`).join('');
}

t.test('the reference agrees with the table above', async (t) => {
  t.equal(referenceRelaxedBody(' C \r\nD \t E\r\n\r\n\r\n'), ' C\r\nD E\r\n');
  t.equal(referenceRelaxedBody('a\r'), 'a\r\r\n');
  t.equal(referenceRelaxedBody('\r\n\r\n  \r\n'), '');
});

t.test('random bodies split at random hash as the reference canonicalizes them', async (t) => {
  // a seeded generator, so a failure names an input that can be replayed
  let seed = 13;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // mostly canonical lines (the fast path), with every kind of byte that needs changing
  const pieces = ['a', 'b', 'xyz', 'word', ' word', 'a b c', 'text\r\n', '\r\n', '\r\n', '\r\n', '\r\n\r\n', ' ', '  ', '\t', '\r', '\n', ' \r\n', '.', '\xe9', '\x00', '\x0c'];
  let checked = 0;
  for (let n = 0; n < 5000; n++) {
    let s = '';
    const count = rnd(60);
    for (let k = 0; k < count; k++) s += pieces[rnd(pieces.length)];
    const bytes = Buffer.from(s, 'latin1');
    const cuts = [0, ...Array.from({ length: rnd(4) }, () => rnd(bytes.length + 1)).sort((a, b) => a - b), bytes.length];
    const h = new RelaxedBodyHash();
    for (let c = 1; c < cuts.length; c++) h.update(bytes.subarray(cuts[c - 1], cuts[c]));
    const got = h.digest();
    const want = sha(Buffer.from(referenceRelaxedBody(s), 'latin1'));
    if (got !== want) {
      t.fail(`body ${JSON.stringify(s)} split at ${JSON.stringify(cuts)}`);
      return;
    }
    checked++;
  }
  t.equal(checked, 5000);
});

t.test('a large text body, canonical already or not, in chunks of any size', async (t) => {
  const line = 'The quick brown fox jumps over the lazy dog, again and again.\r\n';
  const canonical = line.repeat(2000);
  const messy = `${'  indented\tline  \r\n'.repeat(50)}${line.repeat(1000)}\r\n\r\n${'x \r\n'.repeat(10)}${line.repeat(900)}\r\n \r\n\r\n`;
  for (const body of [canonical, messy]) {
    const want = sha(Buffer.from(referenceRelaxedBody(body), 'latin1'));
    for (const size of [1, 7, 64 * 1024, body.length]) {
      const h = new RelaxedBodyHash();
      const bytes = Buffer.from(body, 'latin1');
      for (let i = 0; i < bytes.length; i += size) h.update(bytes.subarray(i, i + size));
      t.equal(h.digest(), want, `${body === canonical ? 'canonical' : 'messy'} body in chunks of ${size}`);
    }
  }
});
