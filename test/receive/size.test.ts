import t from 'tap';
import { messageCount, queuedId, startRelay } from '../helpers/relay.js';
import { rawSession, type RawClient } from '../helpers/raw-smtp.js';

const MB = 1024 * 1024;

/** Streams `total` body bytes (lines of 'x') without holding them, honouring back-pressure. */
async function streamBody(c: RawClient, total: number): Promise<void> {
  const line = Buffer.from(`${'x'.repeat(998)}\r\n`);
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => line)); // 64,000 bytes
  let sent = 0;
  while (sent < total) {
    if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
    sent += chunk.length;
  }
}

t.test('SIZE declared larger than the limit is refused at MAIL FROM', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, { smtp: { maxMessageSizeBytes: 10 * MB } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  const reply = await c.command(`MAIL FROM:<app@example.com> SIZE=${60 * MB}`);
  t.match(reply, /^552 5\.3\.4 /, 'refused with 552 5.3.4');
  t.notMatch(reply, /\d\.\d\.\d \d\.\d\.\d/, 'single enhanced code');
  t.match(await c.command(`MAIL FROM:<app@example.com> SIZE=${5 * MB}`), /^250 /, 'a size within the limit is fine');
  t.equal(messageCount(ferry), 0);
});

t.test('an actual body larger than the limit: 552 5.3.4 after the final dot, memory stays bounded', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, { smtp: { maxMessageSizeBytes: 10 * MB } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  const sendOversized = async (bytes: number) => {
    t.match(await c.command('MAIL FROM:<app@example.com>'), /^250 /, 'no SIZE declared');
    t.match(await c.command('RCPT TO:<a@example.net>'), /^250 /);
    t.match(await c.command('DATA'), /^354 /);
    await c.write('Subject: big\r\n\r\n');
    await streamBody(c, bytes);
    await c.write('.\r\n');
    return c.reply(60_000);
  };
  // Warm-up: the first large transfer grows the heap and socket buffers to their working size
  // whatever the message size; what must not happen is growth with the message size.
  t.match(await sendOversized(15 * MB), /^552 5\.3\.4 /, 'warm-up message refused');

  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const reply = await sendOversized(120 * MB);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);

  t.match(reply, /^552 5\.3\.4 Message too big for system/, '552 5.3.4');
  t.notMatch(reply, /\d\.\d\.\d \d\.\d\.\d/);
  const growth = peak - before;
  t.comment(`RSS growth while receiving 120 MB: ${(growth / MB).toFixed(1)} MB`);
  // Buffering the message would grow by at least its 120 MB. The bound leaves room for GC timing
  // in this one process that is both client and relay: 3-22 MB seen on Node 20; Node 24's
  // collector lets garbage grow further before it runs (55 MB seen for 120 MB).
  t.ok(growth < 90 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB for a 120 MB message (bounded)`);
  t.equal(messageCount(ferry), 0, 'nothing queued');
  t.same(ferry.spool.list(), [], 'the partial spool file is gone');

  // The session is still in sync: the next transaction works.
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250 /);
  t.match(await c.command('RCPT TO:<a@example.net>'), /^250 /);
  t.match(await c.command('DATA'), /^354 /);
  await c.write('Subject: small\r\n\r\nok\r\n.\r\n');
  t.ok(queuedId(await c.reply()));
});

t.test('a body just under the limit is accepted; one byte over is refused', async (t) => {
  const limit = 200_000;
  const { ferry, smtpPort } = await startRelay(t, { smtp: { maxMessageSizeBytes: limit } });
  const send = async (bodyBytes: number) => {
    const c = await rawSession(smtpPort);
    await c.command('MAIL FROM:<app@example.com>');
    await c.command('RCPT TO:<a@example.net>');
    await c.command('DATA');
    const head = 'Subject: edge\r\n\r\n';
    const body = Buffer.alloc(bodyBytes - head.length, 'y');
    body[body.length - 2] = 0x0d;
    body[body.length - 1] = 0x0a;
    await c.write(Buffer.concat([Buffer.from(head), body, Buffer.from('.\r\n')]));
    const r = await c.reply(10_000);
    c.close();
    return r;
  };
  t.match(await send(limit), /^250 2\.0\.0 Ok: queued as /, 'exactly the limit is accepted');
  t.match(await send(limit + 1), /^552 5\.3\.4 /, 'one byte more is refused');
  t.equal(messageCount(ferry), 1);
});
