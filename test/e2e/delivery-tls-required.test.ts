import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('TLS required for the domain, MX offers none: deferred, nothing sent in clear text', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false }, delivery: { requireTlsDomains: ['example.test'] } });
  const id = await send(relay, { to: ['gina@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
  t.equal(mx!.messages.length, 0, 'no message reached the MX');
  const [a] = attempts(ferry, id);
  t.match(a!.hops, [{ host: 'mx1.example.test', result: 'tls_failed', error: { kind: 'tls', message: /TLS is required/ } }, { host: 'mx2.example.test' }]);
});

t.test('TLS required, MX presents a self-signed certificate: deferred, nothing sent (issue 15: required means verified)', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true }, delivery: { requireTlsDomains: ['example.test'] } });
  const id = await send(relay, { to: ['gina@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'deferred');
  t.equal(mx!.messages.length, 0);
  const [a] = attempts(ferry, id);
  t.match(a!.hops, [{ host: 'mx1.example.test', result: 'tls_failed', tls: { result: 'certificate-not-trusted' } }]);
});

t.test('TLS required as encrypt-only and offered: delivered over TLS', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true }, config: { outboundTls: { encryptOnlyDomains: ['example.test'] } } });
  const id = await send(relay, { to: ['gina@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.ok(r!.tlsProtocol);
  t.equal(mx!.messages[0]!.tls, true);
});
