import t from 'tap';
import { Canonicalizer } from '../../src/receive/canonicalize.js';

/** The canonical form, computed the slow and obvious way on the whole message at once. */
function reference(raw: string): { headers: string; body: string } {
  let s = raw.replace(/\r(?!\n)/g, '\r\n').replace(/(?<!\r)\n/g, '\r\n');
  if (s.length > 0 && !s.endsWith('\n')) s += '\r\n';
  if (s.length === 0) return { headers: '\r\n', body: '' };
  if (s.startsWith('\r\n')) return { headers: '\r\n', body: s.slice(2) };
  const idx = s.indexOf('\r\n\r\n');
  if (idx === -1) return { headers: `${s}\r\n`, body: '' };
  return { headers: s.slice(0, idx + 4), body: s.slice(idx + 4) };
}

function run(chunks: Buffer[], maxHeaderBytes = 1 << 20) {
  const c = new Canonicalizer(maxHeaderBytes);
  const body: Buffer[] = [];
  for (const chunk of chunks) body.push(c.push(chunk));
  const { headers, bodyTail } = c.finish();
  body.push(bodyTail);
  return { headers: headers.toString('latin1'), body: Buffer.concat(body).toString('latin1'), eightBit: c.eightBit, headerTooLarge: c.headerTooLarge };
}

const CASES: Record<string, string> = {
  'plain CRLF message': 'From: a@example.com\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n',
  'bare LF everywhere': 'From: a@example.com\nSubject: hi\n\nline 1\nline 2\n',
  'mixed line endings': 'From: a@example.com\r\nSubject: hi\n\r\nline 1\nline 2\r\n',
  'bare LF blank line after CRLF header': 'Subject: x\r\n\nbody\n',
  'no headers (starts with the blank line)': '\r\nbody only\r\n',
  'no headers, bare LF': '\nbody only\n',
  'headers only, with final CRLF': 'Subject: only headers\r\nX-A: 1\r\n',
  'headers only, no final line break': 'Subject: only headers',
  'headers then blank line, empty body': 'Subject: x\r\n\r\n',
  'empty message': '',
  'body without final line break': 'Subject: x\r\n\r\nno newline',
  'blank lines inside the body': 'Subject: x\r\n\r\n\r\n\r\nafter blanks\r\n\r\n',
  'folded header': 'Subject: a\r\n folded\r\n\tagain\r\n\r\nbody\r\n',
  'bare CR in the body becomes CRLF (the outgoing dot-stuffing would do it anyway)': 'Subject: x\r\n\r\na\rb\r\n',
  'bare CR in the header block becomes CRLF: two fields, as the next hop reads them': 'X-A: 1\rFrom: ceo@bank.test\r\nFrom: x@allowed.test\r\n\r\nbody\r\n',
  'bare CR blank line ends the header block': 'Subject: x\r\rbody\r',
  'CR CR LF and a final bare CR': 'A: 1\r\r\nb\r\r\n\rc\r',
  'bare CR then a dot line': 'Subject: x\r\n\r\na\r.\r\n',
  'dot lines (already unstuffed by the server)': 'Subject: x\r\n\r\n.\r\n..\r\n.x\r\n',
  '8-bit header and body': 'Subject: Gr\xfc\xdfe\r\n\r\nK\xf6ln \xff\r\n',
};

for (const [name, raw] of Object.entries(CASES)) {
  t.test(name, async (t) => {
    const want = reference(raw);
    const bytes = Buffer.from(raw, 'latin1');
    const whole = run(bytes.length ? [bytes] : []);
    t.same({ headers: whole.headers, body: whole.body }, want, 'one chunk');
    t.equal(whole.eightBit, /[\x80-\xff]/.test(raw), 'eightBit');
    let failures = 0;
    // Every split into two chunks, and into three around every position pair near the header end.
    for (let i = 0; i <= bytes.length; i++) {
      const got = run([bytes.subarray(0, i), bytes.subarray(i)]);
      if (got.headers !== want.headers || got.body !== want.body) {
        failures++;
        if (failures <= 3) t.fail(`split at ${i}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      }
      for (let j = i + 1; j <= Math.min(bytes.length, i + 4); j++) {
        const got3 = run([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
        if (got3.headers !== want.headers || got3.body !== want.body) {
          failures++;
          if (failures <= 3) t.fail(`split at ${i},${j}: ${JSON.stringify(got3)} != ${JSON.stringify(want)}`);
        }
      }
    }
    const bytewise = run([...bytes].map((b) => Buffer.from([b])));
    t.same({ headers: bytewise.headers, body: bytewise.body }, want, 'one byte per chunk');
    t.equal(failures, 0, 'every split point gives the same result');
  });
}

t.test('header block larger than maxHeaderBytes is flagged and not held', async (t) => {
  const header = `Subject: ${'h'.repeat(100)}\r\n\r\n`;
  const tooLarge = run([Buffer.from(`${header}body\r\n`)], header.length - 1);
  t.equal(tooLarge.headerTooLarge, true);
  t.equal(tooLarge.headers, '', 'nothing held');
  const fits = run([Buffer.from(`${header}body\r\n`)], header.length);
  t.equal(fits.headerTooLarge, false, 'exactly maxHeaderBytes fits');
  t.equal(fits.headers, header);
  // A "header" that never ends (no blank line) is flagged once it passes the limit, in small chunks too.
  const c = new Canonicalizer(1000);
  for (let i = 0; i < 200 && !c.headerTooLarge; i++) c.push(Buffer.from('X-Long: 0123456789\r\n'));
  t.equal(c.headerTooLarge, true);
});
