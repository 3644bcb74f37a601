import t from 'tap';
import { attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

// 10,000 RCPT commands in one transaction, pipelined in one write: the first maxRecipients get
// 250, the rest 452 4.5.3; the session stays in step and the message goes out to exactly
// maxRecipients recipients.
t.test('10,000 RCPT commands: 452 past maxRecipients, the connection stays sane', async (t) => {
  const max = 100;
  const relay = await startAbuseRelay(t, { maxRecipients: max });
  const probe = startProbe(relay.smtpPort);
  const a = await attackSession(relay.smtpPort);
  t.match(await a.command('MAIL FROM:<many@evil.test>'), /^250/);
  const n = 10_000;
  let payload = '';
  for (let i = 0; i < n; i++) payload += `RCPT TO:<r${i}@dest.test>\r\n`;
  await a.write(payload);
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await a.reply(20_000);
    const key = r.slice(0, 9);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  t.same(Object.fromEntries(counts), { '250 2.1.5': max, '452 4.5.3': n - max }, `one reply per RCPT: ${JSON.stringify(Object.fromEntries(counts))}`);
  t.match(await a.command('NOOP'), /^250/, 'NOOP answered after the flood');
  t.match(await a.command('DATA'), /^354/);
  const done = await a.command('Subject: many\r\n\r\nhello\r\n.', 20_000);
  t.match(done, /^250 2\.0\.0 Ok: queued as /, done);
  const id = /queued as (\S+)/.exec(done)![1]!;
  t.equal(relay.ferry.queue.recipients.forMessage(id).length, max, `the message has exactly ${max} recipients`);
  a.close();
  const stats = await probe.stop();
  reportProbe(t, '10,000 RCPT', stats);
});
