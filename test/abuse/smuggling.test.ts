import t from 'tap';
import { attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

// SMTP smuggling: an end-of-data that only some servers recognise (<LF>.<LF>, <CR>.<LF>,
// <LF>.<CR><LF>) followed by a second, forged transaction inside the body. Ferry must see one
// message per real <CR><LF>.<CR><LF>, and must not relay a sequence that the next hop could
// read as an end-of-data: the sink gets exactly one message per submission.
t.test('smuggling sequences give exactly one message', async (t) => {
  const relay = await startAbuseRelay(t);
  const probe = startProbe(relay.smtpPort);
  const sequences: [string, string][] = [
    ['<LF>.<LF>', '\n.\n'],
    ['<CR>.<LF>', '\r.\n'],
    ['<LF>.<CR><LF>', '\n.\r\n'],
    ['<CR><LF>.<LF>', '\r\n.\n'],
    ['<LF>.<CR>', '\n.\r'],
  ];
  const a = await attackSession(relay.smtpPort);
  const ids: string[] = [];
  for (const [name, seq] of sequences) {
    t.match(await a.command('MAIL FROM:<app@evil.test>'), /^250/);
    t.match(await a.command('RCPT TO:<victim@dest.test>'), /^250/);
    t.match(await a.command('DATA'), /^354/);
    const smuggled = `MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\nFrom: ceo@bank.test\r\nSubject: smuggled\r\n\r\nwire money\r\n`;
    await a.write(`Subject: carrier ${name}\r\n\r\nhello${seq}${smuggled}`);
    const r = await a.command('.', 10_000);
    t.match(r, /^(250|5\d\d) /, `${name}: one reply to the real end of data: ${r}`);
    const id = /queued as (\S+)/.exec(r)?.[1];
    if (id) ids.push(id);
    // Nothing else is pending: the next command gets its own reply, not a leftover.
    t.match(await a.command('NOOP'), /^250 /, `${name}: no extra replies`);
  }
  t.equal(a.lines.filter((l) => /^250 2\.0\.0 Ok: queued/.test(l)).length, ids.length, 'one queued reply per accepted carrier');
  t.notOk(relay.ferry.queue.messages.list({ limit: 1000 }).some((m) => m.subject === 'smuggled'), 'no smuggled message was queued');
  a.close();
  await relay.sink.waitForMessages(ids.length, 10_000);
  // Give the sink time to receive a second message if one had been smuggled through.
  await new Promise((r) => setTimeout(r, 500));
  const mine = relay.sink.messages.filter((m) => /Subject: carrier/.test(m.raw.toString('latin1')) || /Subject: smuggled/.test(m.raw.toString('latin1')));
  t.equal(mine.length, ids.length, `the sink received exactly ${ids.length} messages, one per carrier`);
  t.notOk(relay.sink.messages.some((m) => /^Subject: smuggled/m.test(m.raw.toString('latin1').split('\r\n\r\n')[0]!)), 'no smuggled message reached the sink');
  const stats = await probe.stop();
  reportProbe(t, 'smuggling sequences', stats);
});
