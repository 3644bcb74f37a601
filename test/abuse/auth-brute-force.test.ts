import t from 'tap';
import { addUser } from '../helpers/relay.js';
import { ATTACKER_IP, attack, attackSession, reportProbe, startAbuseRelay, startProbe } from './fixtures/harness.js';

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

// Guessing passwords: after 5 failures in the window the address is refused with 421 (at
// AUTH and at connect) for the lockout time; the right password does not help once locked.
// A client on another address is not affected.
t.test('AUTH brute force: locked out after 5 failures with 421', async (t) => {
  const relay = await startAbuseRelay(t, { authFailures: { max: 5, windowMs: 60_000, lockoutMs: 60_000 } });
  await addUser(relay.ferry, 'app', 'the right password');
  const probe = startProbe(relay.smtpPort);
  const a = await attackSession(relay.smtpPort);
  const replies: string[] = [];
  for (let i = 0; i < 5 && !a.isClosed(); i++) {
    replies.push(await a.command(`AUTH PLAIN ${plain('app', `guess${i}`)}`).catch((e: Error) => e.message));
  }
  t.same(replies.slice(0, 4).map((r) => r.slice(0, 9)), ['535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8'], 'failures 1-4: 535 5.7.8');
  t.match(replies[4], /^421 4\.7\.0 /, `failure 5: ${replies[4]}`);
  await Promise.race([a.closed, new Promise((r) => setTimeout(r, 3000))]);
  t.ok(a.isClosed(), 'the connection is closed after the 421');

  // A new connection from the same address is refused at once, even with the right password.
  const again = await attack(relay.smtpPort, ATTACKER_IP);
  const greeting = await again.reply();
  t.match(greeting, /^421 4\.7\.0 /, `reconnect from ${ATTACKER_IP}: ${greeting}`);
  again.close();
  let attempts = 0;
  for (let i = 0; i < 50; i++) {
    const c = await attack(relay.smtpPort, ATTACKER_IP);
    const g = await c.reply().catch(() => 'closed');
    if (g.startsWith('421')) attempts++;
    c.close();
  }
  t.equal(attempts, 50, '50 more connections from the locked address: all 421');
  const stats = await probe.stop();
  reportProbe(t, 'AUTH brute force', stats);
});
