import t from 'tap';
import { attackSession, reportProbe, sleep, startAbuseRelay, startProbe } from './fixtures/harness.js';

// A client that trickles its message one byte every 100 ms is never idle, so only the DATA
// deadline (smtp.dataTimeoutMs) ends it: 421 and close, nothing queued.
t.test('a slow-drip DATA is cut off by dataTimeoutMs', async (t) => {
  const relay = await startAbuseRelay(t, { dataTimeoutMs: 1500, idleTimeoutMs: 10_000 });
  const probe = startProbe(relay.smtpPort);
  const drips = await Promise.all([0, 1, 2, 3, 4].map(() => attackSession(relay.smtpPort)));
  for (const a of drips) {
    t.match(await a.command('MAIL FROM:<drip@evil.test>'), /^250/);
    t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
    t.match(await a.command('DATA'), /^354/);
  }
  const started = Date.now();
  const body = Buffer.from('Subject: slow\r\n\r\n' + 'x'.repeat(1000));
  let i = 0;
  while (drips.some((a) => !a.isClosed()) && Date.now() - started < 6000) {
    for (const a of drips) if (!a.isClosed()) a.socket.write(body.subarray(i % body.length, (i % body.length) + 1));
    i++;
    await sleep(100);
  }
  const took = Date.now() - started;
  t.ok(drips.every((a) => a.isClosed()), `all 5 drippers were disconnected (after ${took} ms)`);
  // Not before the deadline; "not much after" is the loop's 6 s bound above (all closed within
  // it), as a loaded machine may be slow to run the deadline's timer.
  t.ok(took >= 1400, `cut off at the DATA deadline, not before (${took} ms)`);
  for (const a of drips) t.ok(a.lines.some((l) => /^421 4\.4\.2 /.test(l)), `told why: ${a.lines[a.lines.length - 1]}`);
  const stats = await probe.stop();
  reportProbe(t, 'slow-drip DATA', stats);
  t.notOk(relay.ferry.queue.messages.list({ limit: 1000 }).some((m) => m.sender === 'drip@evil.test'), 'nothing from the drippers was queued');
});
