import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('NXDOMAIN: bounced at once as domain_invalid', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const id = await send(relay, { to: ['lee@no-such-domain.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'bounced');
  t.equal(r!.category, 'domain_invalid');
  t.equal(r!.nextAttemptAt, null);
  t.equal(mx!.connections, 0);
  t.same(ferry.queue.events.forMessage(id).map((e) => e.type), ['queued', 'bounced']);
  t.equal(attempts(ferry, id).length, 1);
});

t.test('SERVFAIL: deferred, not bounced', async (t) => {
  const { ferry, relay } = await setupDelivery(t, { mx: { tls: false }, zone: { 'broken.test': { rcode: 'SERVFAIL' } } });
  const id = await send(relay, { to: ['lee@broken.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
});
