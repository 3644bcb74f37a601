import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('the MX resets the connection in the middle of DATA: deferred, not delivered, retried later', async (t) => {
  const body = `From: s@ferry.test\r\nTo: r@example.test\r\nSubject: big\r\n\r\n${'x'.repeat(76).concat('\r\n').repeat(4000)}`;
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: { dataFault: 'reset' } } });
  const id = await send(relay, { to: ['jack@example.test'], raw: body });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
  t.ok(r!.nextAttemptAt! > Date.now() + 60_000, 'retry minutes away');
  t.equal(mx!.messages.length, 0);
  const [a] = attempts(ferry, id);
  t.equal(a!.phase, 'data');
  t.not(a!.errorKind, null);
});
