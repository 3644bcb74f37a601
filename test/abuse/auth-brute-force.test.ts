import t from 'tap';
import { addUser } from '../helpers/relay.js';
import { ATTACKER_IP, attack, attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

// Guessing passwords: after 5 failures in the window AUTH from the address is refused with 454
// for the lockout time, without a password check; the right password does not help once
// locked. Connections are never refused for it (the address may relay from the relay networks,
// and other clients may share it). A client on another network is not affected.
t.test('AUTH brute force: locked out of AUTH after 5 failures with 454, connections still greeted', async (t) => {
  const relay = await startAbuseRelay(t, { authFailures: { max: 5, windowMs: 60_000, lockoutMs: 60_000 } });
  await addUser(relay.ferry, 'app', 'the right password');
  const probe = startProbe(relay.smtpPort);
  const a = await attackSession(relay.smtpPort);
  const replies: string[] = [];
  for (let i = 0; i < 6 && !a.isClosed(); i++) {
    replies.push(await a.command(`AUTH PLAIN ${plain('app', `guess${i}`)}`).catch((e: Error) => e.message));
  }
  t.same(replies.slice(0, 5).map((r) => r.slice(0, 9)), ['535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8'], 'failures 1-5: 535 5.7.8');
  t.match(replies[5], /^454 4\.7\.0 Too many failed authentication attempts/, `then: ${replies[5]}`);

  let greeted = 0;
  let refusedAuth = 0;
  for (let i = 0; i < 50; i++) {
    const c = await attack(relay.smtpPort, ATTACKER_IP);
    const g = await c.reply().catch(() => 'closed');
    if (g.startsWith('220')) greeted++;
    await c.command('EHLO attacker.test');
    const r = await c.command(`AUTH PLAIN ${plain('app', 'the right password')}`).catch(() => 'closed');
    if (r.startsWith('454 4.7.0')) refusedAuth++;
    c.close();
  }
  t.equal(greeted, 50, '50 more connections from the locked address: all greeted');
  t.equal(refusedAuth, 50, '...and all refused AUTH, even with the right password');
  a.close();
  const stats = await probe.stop();
  reportProbe(t, 'AUTH brute force', stats);
});
