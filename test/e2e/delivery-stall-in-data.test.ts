import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('the MX reads the message and never answers the final dot: timeout, deferred, not delivered', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, {
    mx: { tls: false, script: { dataFault: 'stall' } },
    delivery: { commandTimeoutMs: 300, dataTimeoutMs: 300 },
  });
  const started = Date.now();
  const id = await send(relay, { to: ['ivy@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
  t.ok(Date.now() - started < 15_000, 'the 300 ms data timeout ended it, not a default of minutes');
  t.equal(mx!.messages.length, 0);
  const [a] = attempts(ferry, id);
  t.equal(a!.result, 'deferred');
  t.equal(a!.errorKind, 'timeout');
  t.equal(a!.code, null, 'no reply was read');
});
