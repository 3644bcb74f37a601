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
