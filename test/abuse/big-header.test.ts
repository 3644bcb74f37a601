import t from 'tap';
import { attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

// smtp.maxHeaderBytes (default 1 MiB) bounds the header block. A header block over it gets
// 552 5.3.4 after the dot; one just under it is accepted. Both as one header folded over
// many lines (the classic way to make a parser buffer a "line") and as many headers.
t.test('a 1 MB header: refused with 552 5.3.4 over maxHeaderBytes, accepted under it', async (t) => {
  const relay = await startAbuseRelay(t);
  const max = relay.ferry.config.smtp.maxHeaderBytes;
  t.equal(max, 1024 * 1024, 'default maxHeaderBytes is 1 MiB');
  const probe = startProbe(relay.smtpPort);
  const folded = (bytes: number) => `X-Big: start\r\n${`\t${'h'.repeat(76)}\r\n`.repeat(Math.ceil(bytes / 79))}`;
  const many = (bytes: number) => Array.from({ length: Math.ceil(bytes / 80) }, (_, i) => `X-H${i}: ${'v'.repeat(70)}\r\n`).join('');
  const cases: [string, string, RegExp][] = [
    ['folded header, 1.1 MB', folded(1.1 * 1024 * 1024), /^552 5\.3\.4 /],
    ['many headers, 1.1 MB', many(1.1 * 1024 * 1024), /^552 5\.3\.4 /],
    ['folded header, 0.9 MB', folded(0.9 * 1024 * 1024), /^250 2\.0\.0 /],
    ['one 1 MB line with no CRLF in the header', `X-Line: ${'L'.repeat(1.05 * 1024 * 1024)}\r\n`, /^(552 5\.3\.4|250 2\.0\.0) /],
  ];
  const a = await attackSession(relay.smtpPort);
  for (const [name, headers, want] of cases) {
    t.match(await a.command('MAIL FROM:<hdr@evil.test>'), /^250/);
    t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
    t.match(await a.command('DATA'), /^354/);
    await a.write(`Subject: big header\r\n${headers}\r\nbody\r\n`);
    const r = await a.command('.', 20_000);
    t.match(r, want, `${name}: ${r}`);
  }
  t.match(await a.command('NOOP'), /^250/, 'the session is still in step');
  a.close();
  const stats = await probe.stop();
  reportProbe(t, '1 MB header', stats);
});
