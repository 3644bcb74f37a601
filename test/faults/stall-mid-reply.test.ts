import t from 'tap';
import { startFaultMx, type FaultMx } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay } from './fixtures/harness.js';

// The MX starts a reply and stops half-way (the first line of a multi-line reply, or half a
// line with no CRLF) and then says nothing more: command timeouts must end every wait. The last
// case stalls half-way through "250" to the final dot: that is not an acceptance.
t.test('an MX that stalls in the middle of a reply: deferred, retried, never delivered', async (t) => {
  const servers: Record<string, FaultMx> = {
    'greet-half.test': await startFaultMx({ greeting: { kind: 'bytes', bytes: '220-fault.test first line of two\r\n', then: 'stall' } }),
    'ehlo-half.test': await startFaultMx({ ehlo: { kind: 'bytes', bytes: '250-fault.test\r\n250-PIPEL', then: 'stall' } }),
    'rcpt-half.test': await startFaultMx({ rcpt: { kind: 'bytes', bytes: '25', then: 'stall' } }),
    'dot-half.test': await startFaultMx({ dot: { kind: 'bytes', bytes: '250 2.0.0 Ok: que', then: 'stall' } }),
  };
  for (const mx of Object.values(servers)) t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, Object.fromEntries(Object.entries(servers).map(([d, mx]) => [d, mx.route])));
  await proveDeferredAndIsolated(t, relay, servers);
  t.ok(servers['dot-half.test']!.dots >= 2, 'the half-answered final dot was sent again on retry');
});
