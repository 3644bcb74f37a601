import t from 'tap';
import { isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

/** Everything Ferry adds in front of the client's bytes: its Received header, nothing else. */
const RECEIVED = /^Received: from [^\r\n]+\r\n\tby ferry\.test \(Ferry\) with E?SMTP[^\r\n]*\r\n(\t[^\r\n]+\r\n)+$/;

function tricky(size: number): Buffer {
  const head = [
    'From: =?UTF-8?Q?S=C3=A9nder?= <sender@ferry.test>',
    'To: rcpt@example.test',
    'Subject: bytes, byte for byte',
    'Message-ID: <bytes-1@ferry.test>',
    'Date: Thu, 01 Jan 2026 00:00:00 +0000',
    'X-Folded: one',
    '\ttwo\t ',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
  ].join('\r\n');
  const lines = [
    '.',
    '..',
    '.leading dot',
    'trailing spaces   ',
    'tab\tinside\t',
    'grüße, 日本語, emoji 🚢',
    'x'.repeat(998),
    '',
    '',
  ];
  let body = '';
  let i = 0;
  while (Buffer.byteLength(body) < size) body += `${lines[i++ % lines.length]}\r\n`;
  return Buffer.from(`${head}\r\n${body}.\r\nlast line\r\n`);
}

for (const [label, size] of [['small, stored inline', 2_000], ['large, stored as a spool file', 400_000]] as const) {
  t.test(`the MX receives exactly the client's bytes plus Ferry's Received header (${label})`, async (t) => {
    const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true } });
    const sent = tricky(size);
    const id = await send(relay, { to: ['rcpt@example.test'], raw: sent });
    if (size > 200_000) t.ok(ferry.queue.messages.get(id)!.spoolFile, 'the body went to a spool file');
    else t.equal(ferry.queue.messages.get(id)!.spoolFile, null, 'the body is inline');
    await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
    t.equal(mx!.messages.length, 1);
    const got = mx!.messages[0]!.raw;
    const prefixLength = got.length - sent.length;
    t.ok(prefixLength > 0, 'something was added in front');
    t.ok(got.subarray(prefixLength).equals(sent), 'the rest is the client’s message, byte for byte');
    t.match(got.subarray(0, prefixLength).toString('latin1'), RECEIVED, 'the addition is one Received header');
    t.match(got.subarray(0, prefixLength).toString('latin1'), ` id ${id}`);
  });
}
