import t from 'tap';
import { startFaultMx, type FaultMx } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay } from './fixtures/harness.js';

// The MX offers STARTTLS, says 220 to it, and then sends garbage instead of a ServerHello, or
// closes, or says nothing. Ferry must not hang, must not send the message in clear text on that
// broken channel, and must come back later. With the clear-text retry of level `may` turned off:
// that retry (a new connection, Postfix's `may`) is proved in test/e2e/tls-levels.test.ts.
t.test('the TLS handshake fails after 220 to STARTTLS: deferred, retried, nothing sent', async (t) => {
  const servers: Record<string, FaultMx> = {
    'tls-garbage.test': await startFaultMx({ starttls: { kind: 'bytes', bytes: '220 2.0.0 Ready to start TLS\r\nthis is not a TLS record\r\n', then: 'continue' } }, { starttls: true }),
    'tls-close.test': await startFaultMx({ starttls: { kind: 'reply', lines: ['220 2.0.0 Ready to start TLS'], then: 'close' } }, { starttls: true }),
    'tls-silent.test': await startFaultMx({ starttls: { kind: 'bytes', bytes: '220 2.0.0 Ready to start TLS\r\n', then: 'stall' } }, { starttls: true }),
  };
  for (const mx of Object.values(servers)) t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, Object.fromEntries(Object.entries(servers).map(([d, mx]) => [d, mx.route])), { outboundTls: { cleartextFallback: false } });
  await proveDeferredAndIsolated(t, relay, servers);
  for (const [d, mx] of Object.entries(servers)) {
    t.notOk(mx.commands.some((c) => /^MAIL/i.test(c)), `${d}: no MAIL FROM was sent over the broken channel`);
  }
});
