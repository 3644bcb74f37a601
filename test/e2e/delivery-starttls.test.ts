import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('STARTTLS offered: used, and the protocol and cipher are recorded', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true } });
  const id = await send(relay, { to: ['frank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.match(r!.tlsProtocol, /^TLSv1\.[23]$/);
  t.match(r!.tlsCipher, /^(TLS_|ECDHE)/);
  t.equal(mx!.messages[0]!.tls, true, 'the MX saw the message over TLS');
  const [a] = attempts(ferry, id);
  t.equal(a!.tlsProtocol, r!.tlsProtocol);
  t.equal(a!.tlsCipher, r!.tlsCipher);
});

t.test('STARTTLS not offered: clear text (opportunistic), recorded as no TLS', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const id = await send(relay, { to: ['frank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(r!.tlsProtocol, null);
  t.equal(mx!.messages[0]!.tls, false);
});
