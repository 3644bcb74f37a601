import t from 'tap';
import { attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

// NUL bytes and invalid UTF-8 in commands and in the body. Every command gets a reply (or the
// connection is closed cleanly); a body with such bytes is accepted or refused, never a crash;
// the relay keeps serving.
t.test('NUL bytes and invalid UTF-8 in commands and body', async (t) => {
  const relay = await startAbuseRelay(t);
  const probe = startProbe(relay.smtpPort);
  const bad = (s: string) => Buffer.from(s, 'latin1');
  const commands: Buffer[] = [
    bad('EHLO a\0b.test\r\n'),
    bad('\0\0\0\0\r\n'),
    bad('MAIL FROM:<a\0b@evil.test>\r\n'),
    bad('MAIL FROM:<\xff\xfe\xfd@evil.test>\r\n'),
    bad('MAIL FROM:<ok@evil.test> SMTPUTF8\r\n'),
    bad('RCPT TO:<\xc3\x28@dest.test>\r\n'),
    bad('RCPT TO:<\xed\xa0\x80@dest.test>\r\n'),
    bad('RCPT TO:<v\0ictim@dest.test>\r\n'),
    bad('NOOP \xff\0\r\n'),
    bad('\xff\xfb\x01\xff\xfd\x03\r\n'), // telnet negotiation
    bad('RSET\r\n'),
  ];
  const a = await attackSession(relay.smtpPort);
  for (const c of commands) {
    await a.write(c);
    const r = await a.reply(5000).catch((e: Error) => `(${e.message})`);
    t.match(r, /^\d{3}[ -]/, `${JSON.stringify(c.toString('latin1').trim())} → ${r.split('\n')[0]}`);
  }
  // Bodies: NUL bytes, invalid UTF-8, a lone CR, 8-bit without 8BITMIME.
  const bodies: [string, Buffer][] = [
    ['NUL bytes', bad('Subject: nul\r\n\r\nbefore\0after\r\n\0\0\0\r\n')],
    ['invalid UTF-8', bad('Subject: \xff\xfe bad\r\nFrom: <x\xc3\x28@evil.test>\r\n\r\n\xc3\x28\xa0\xa1\xed\xa0\x80\xf0\x28\x8c\x28\r\n')],
    ['lone CR and LF', bad('Subject: cr\r\n\r\nline\rmore\nmore\r\n')],
  ];
  const accepted: string[] = [];
  for (const [name, body] of bodies) {
    t.match(await a.command('MAIL FROM:<body@evil.test>'), /^250/);
    t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
    t.match(await a.command('DATA'), /^354/);
    await a.write(body);
    const r = await a.command('.', 10_000);
    t.match(r, /^(250|5\d\d) /, `${name} body: ${r}`);
    const id = /queued as (\S+)/.exec(r)?.[1];
    if (id) accepted.push(id);
  }
  t.match(await a.command('NOOP'), /^250/, 'the session is still in step');
  a.close();
  // What was accepted is delivered like any other message.
  const deadline = Date.now() + 10_000;
  const delivered = () => accepted.every((id) => relay.ferry.queue.recipients.forMessage(id).every((r) => r.status === 'delivered'));
  while (!delivered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.ok(delivered(), `the ${accepted.length} accepted odd messages were delivered`);
  const stats = await probe.stop();
  reportProbe(t, 'NUL bytes and invalid UTF-8', stats);
});
