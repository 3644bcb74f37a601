import t from 'tap';
import { formatAddress, rewriteFromHeader, rewrittenFrom } from '../../src/policy/dmarc-headers.js';
import { rewriteFromHeader as reexported } from '../../src/policy/dmarc-guard.js';

const NEW_FROM = '"Alice via Ferry" <noreply@ours.test>';
const REPLY = '"Alice" <alice@yahoo.test>';

t.test('replaces a folded From, adds Reply-To, keeps every other byte', async (t) => {
  const head = Buffer.concat([
    Buffer.from('Received: from a\r\n\tby b\r\nFrom: "Alice"\r\n <alice@yahoo.test>\r\nSubject: Gr'),
    Buffer.from([0xfc, 0xdf]), // raw 8-bit header bytes (latin-1)
    Buffer.from('e\r\nTo: x@y.test\r\n\r\n'),
  ]);
  const out = rewriteFromHeader(head, NEW_FROM, REPLY);
  const expected = Buffer.concat([
    Buffer.from(`Received: from a\r\n\tby b\r\nFrom: ${NEW_FROM}\r\nReply-To: ${REPLY}\r\nSubject: Gr`),
    Buffer.from([0xfc, 0xdf]),
    Buffer.from('e\r\nTo: x@y.test\r\n\r\n'),
  ]);
  t.same(out, expected);
  t.equal(reexported, rewriteFromHeader);
});

t.test('an existing Reply-To is kept and none is added', async (t) => {
  const head = Buffer.from('from:alice@yahoo.test\r\nReply-To: support@x.test\r\nSubject: s\r\n');
  t.equal(rewriteFromHeader(head, NEW_FROM, REPLY).toString(), `From: ${NEW_FROM}\r\nReply-To: support@x.test\r\nSubject: s\r\n`);
});

t.test('a second From is removed; a block with no From gets one; a body after the block is untouched', async (t) => {
  const head = Buffer.from('From: a@yahoo.test\r\nX: 1\r\nFrom: b@yahoo.test\r\n  folded\r\n\r\nFrom: in the body\r\n');
  t.equal(
    rewriteFromHeader(head, NEW_FROM, REPLY).toString(),
    `From: ${NEW_FROM}\r\nReply-To: ${REPLY}\r\nX: 1\r\n\r\nFrom: in the body\r\n`,
  );
  t.equal(rewriteFromHeader(Buffer.from('Subject: s'), NEW_FROM, REPLY).toString(), `Subject: s\r\nFrom: ${NEW_FROM}\r\nReply-To: ${REPLY}\r\n`);
});

t.test('address formatting', async (t) => {
  t.equal(formatAddress(null, 'a@b.test'), 'a@b.test');
  t.equal(formatAddress('  ', 'a@b.test'), 'a@b.test');
  t.equal(formatAddress('Back\\slash', 'a@b.test'), '"Back\\\\slash" <a@b.test>');
  t.equal(formatAddress('Line\r\nbreak', 'a@b.test'), '"Line break" <a@b.test>', 'no header injection');
  const long = formatAddress('日本語'.repeat(20), 'a@b.test');
  for (const w of long.split(' ').slice(0, -1)) t.ok(w.length <= 75, `encoded word ${w.length} ≤ 75`);
  t.equal(rewrittenFrom('', 'a@yahoo.test', 'Brand', 'n@ours.test'), '"a@yahoo.test via Brand" <n@ours.test>');
});
