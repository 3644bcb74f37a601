import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { attackSession, reportProbe, rssMb, startAbuseRelay, startProbe } from './fixtures/harness.js';

// The case at full size: the client ignores SIZE and streams 100 MB against the default
// 25 MB limit. Ferry reads to the end, stores nothing, answers 552 after the dot, and its memory
// does not grow with the message (about 4 s on loopback).
t.test('a 100 MB message against a 25 MB limit: 552, streamed, memory bounded', async (t) => {
  const limit = 25 * 1024 * 1024;
  const relay = await startAbuseRelay(t, { maxMessageSizeBytes: limit });
  const probe = startProbe(relay.smtpPort);
  const a = await attackSession(relay.smtpPort);
  t.match(await a.command('MAIL FROM:<big@evil.test>'), /^250/, 'no SIZE= given: MAIL accepted');
  t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
  t.match(await a.command('DATA'), /^354/);
  const rssBefore = rssMb();
  let peak = rssBefore;
  const line = Buffer.from(`${'A'.repeat(998)}\r\n`);
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => line)); // 64 KB
  const total = 100 * 1024 * 1024;
  await a.write('Subject: big\r\n\r\n');
  for (let sent = 0; sent < total && !a.isClosed(); sent += chunk.length) {
    if (!a.socket.write(chunk)) await new Promise((r) => a.socket.once('drain', r));
    peak = Math.max(peak, rssMb());
  }
  const reply = await a.command('.', 60_000);
  peak = Math.max(peak, rssMb());
  t.match(reply, /^552 5\.3\.4 /, `after the dot: ${reply}`);
  t.comment(`rss before ${rssBefore.toFixed(0)} MB, peak during the 100 MB upload ${peak.toFixed(0)} MB (test process incl. client)`);
  t.ok(peak - rssBefore < 80, `memory grew by ${(peak - rssBefore).toFixed(0)} MB, far less than the 100 MB buffering a non-streaming intake would need`);
  t.match(await a.command('NOOP'), /^250/, 'the session is still in step');
  t.match(await a.command('MAIL FROM:<small@evil.test>'), /^250/);
  t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
  t.match(await a.command('MAIL FROM:<x@y.test>'), /^503/, 'nested MAIL refused (state machine intact)');
  a.close();
  const stats = await probe.stop();
  reportProbe(t, '100 MB message against a 25 MB limit', stats);
  const spool = join(relay.dataDir, 'spool');
  const files = (function walk(dir: string): string[] {
    try {
      return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [e.name]));
    } catch {
      return [];
    }
  })(spool);
  t.same(files.filter((f) => /tmp|part/i.test(f)), [], 'no temp file left in the spool');
  t.notOk(relay.ferry.queue.messages.list({ limit: 1000 }).some((m) => m.sender === 'big@evil.test'), 'the big message was not queued');
});
