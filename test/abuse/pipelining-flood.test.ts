import t from 'tap';
import { attackSession, reportProbe, rssMb, startAbuseRelay, startProbe } from './fixtures/harness.js';

// A client that writes a huge pipelined batch without reading: 4,000 commands (NOOP, RSET,
// MAIL/RCPT pairs, HELP, garbage) in one go, from 3 connections at once. Each command gets its
// reply in order, or the server closes; the relay keeps serving and memory stays bounded.
t.test('a pipelining flood is answered in order; others keep sending', async (t) => {
  const relay = await startAbuseRelay(t);
  const probe = startProbe(relay.smtpPort);
  const rssBefore = rssMb();
  const per = 4_000;
  const flooders = await Promise.all([0, 1, 2].map(() => attackSession(relay.smtpPort)));
  // (no unknown verbs here: smtp-server closes a session after 10 of those, tested below)
  const kinds = ['NOOP', 'RSET', 'MAIL FROM:<f@evil.test>', 'RCPT TO:<v@dest.test>', 'RSET', 'VRFY x', 'HELP'];
  let payload = '';
  for (let i = 0; i < per; i++) payload += `${kinds[i % kinds.length]}\r\n`;
  const started = Date.now();
  await Promise.all(flooders.map((a) => a.write(payload)));
  const results = await Promise.all(
    flooders.map(async (a) => {
      let answered = 0;
      try {
        for (; answered < per; answered++) await a.reply(30_000);
      } catch {
        // closed or timed out: reported below
      }
      return { answered, closed: a.isClosed() };
    }),
  );
  const took = Date.now() - started;
  const peak = rssMb();
  t.comment(`3 x ${per} pipelined commands: ${results.map((r) => r.answered).join(', ')} replies in ${took} ms; rss +${(peak - rssBefore).toFixed(0)} MB`);
  for (const r of results) t.equal(r.answered, per, `every command answered, in order (${r.answered})`);
  for (const a of flooders) {
    if (!a.isClosed()) t.match(await a.command('NOOP'), /^250/, 'the flooded session is still in step');
    a.close();
  }
  t.ok(peak - rssBefore < 200, 'memory bounded');
  const stats = await probe.stop();
  reportProbe(t, 'pipelining flood', stats);
});

t.test('a flood of unknown commands is cut off', async (t) => {
  const relay = await startAbuseRelay(t);
  const a = await attackSession(relay.smtpPort);
  await a.write('XYZZY\r\n'.repeat(1000));
  await Promise.race([a.closed, new Promise((r) => setTimeout(r, 5000))]);
  t.ok(a.isClosed(), `the server closed the connection after ${a.lines.filter((l) => /^5/.test(l)).length} unknown commands`);
  t.ok(a.lines.length < 50, 'it did not answer all 1,000');
});
