import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('null MX ("0 ."): bounced at once as domain_invalid, no connection made', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const id = await send(relay, { to: ['kim@nullmx.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'bounced');
  t.equal(r!.category, 'domain_invalid');
  t.equal(r!.attempts, 1);
  t.match(r!.lastReply, /null MX/i);
  t.equal(mx!.connections, 0);
  const [a] = attempts(ferry, id);
  t.equal(a!.phase, 'route');
  t.equal(a!.rule, 'route-permanent');
});
