import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

const busy = { code: 421, message: '4.7.0 mx1 is busy, try again later' };

t.test('421 greeting from the only reachable MX: deferred with that reply', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: { greeting: busy } } });
  const id = await send(relay, { to: ['hank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
  t.equal(r!.lastCode, 421);
  t.match(r!.lastReply, '4.7.0 mx1 is busy');
  t.equal(mx!.messages.length, 0);
  const [a] = attempts(ferry, id);
  t.match(a!.hops, [{ host: 'mx1.example.test', result: 'greeting_rejected', reply: { code: 421 } }, { host: 'mx2.example.test', result: 'connect_failed' }]);
});

t.test('421 greeting from the first MX: the next MX takes the message', async (t) => {
  const { mx, mx2, ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: { greeting: busy } }, mx2: { tls: false } });
  const id = await send(relay, { to: ['hank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(r!.mxHost, 'mx2.example.test');
  t.equal(mx!.messages.length, 0);
  t.equal(mx2!.messages.length, 1);
});
