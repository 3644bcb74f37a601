import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('a message to a plain MX is delivered, and the recipient row says how', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const id = await send(relay, { to: ['alice@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'bounced', 'expired'));
  t.equal(r!.status, 'delivered');
  t.equal(r!.attempts, 1);
  t.equal(r!.lastCode, 250);
  t.equal(r!.lastReply, '250 OK: message queued', 'the remote reply is kept');
  t.equal(r!.mxHost, 'mx1.example.test');
  t.equal(r!.remoteIp, '127.0.0.2');
  t.equal(r!.tlsProtocol, null, 'no STARTTLS offered: clear text');
  t.equal(r!.nextAttemptAt, null);
  t.equal(r!.leaseUntil, null, 'the lease is gone');

  t.equal(mx!.messages.length, 1);
  t.same(mx!.messages[0]!.envelope, { from: 'sender@ferry.test', to: ['alice@example.test'] });
  t.equal(mx!.messages[0]!.helo, 'ferry.test', 'EHLO with the configured hostname');

  const [a] = attempts(ferry, id);
  t.equal(a!.result, 'delivered');
  t.equal(a!.mxHost, 'mx1.example.test');
  t.equal(a!.ip, '127.0.0.2');
  t.match(a!.hops, [{ host: 'mx1.example.test', ip: '127.0.0.2', result: 'connected' }]);
  const events = ferry.queue.events.forMessage(id).map((e) => e.type);
  t.same(events, ['queued', 'delivered']);
});
