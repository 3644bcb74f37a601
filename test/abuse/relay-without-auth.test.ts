import t from 'tap';
import { addUser } from '../helpers/relay.js';
import { attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

// Only 10.0.0.0/8 may relay without AUTH: a loopback client that does not authenticate is an
// outsider here. 200 relay attempts in a row; an authenticated client keeps sending.
t.test('relaying without AUTH from a non-allowed address: 530 5.7.0, nothing queued', async (t) => {
  const relay = await startAbuseRelay(t, { relayNetworks: ['10.0.0.0/8'] });
  await addUser(relay.ferry, 'app', 'a long enough password');
  const before = relay.ferry.queue.messages.list({ limit: 1000 }).length;
  const probe = startProbe(relay.smtpPort, { auth: { user: 'app', pass: 'a long enough password' } });
  const a = await attackSession(relay.smtpPort);
  const replies = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = await a.command(`MAIL FROM:<spammer${i}@evil.test>`);
    replies.add(r.slice(0, 9));
    if (i === 0) t.match(r, /^530 5\.7\.0 /, `MAIL FROM without AUTH: ${r}`);
    const rcpt = await a.command('RCPT TO:<victim@dest.test>');
    if (i === 0) t.match(rcpt, /^5\d\d /, `RCPT after the refused MAIL is refused too: ${rcpt}`);
    const data = await a.command('DATA');
    if (i === 0) t.match(data, /^5\d\d /, `DATA is refused: ${data}`);
  }
  t.same([...replies], ['530 5.7.0'], 'every one of 200 attempts got 530 5.7.0');
  t.match(await a.command('QUIT'), /^221 /, 'the session is still in step: QUIT answered');
  const stats = await probe.stop();
  reportProbe(t, 'relaying without AUTH', stats);
  const queued = relay.ferry.queue.messages.list({ limit: 1000 });
  t.equal(queued.length - before, stats.sent, 'only the authenticated client\'s mail was queued');
  t.notOk(queued.some((m) => m.sender.includes('evil.test')), 'no message from the attacker');
});
