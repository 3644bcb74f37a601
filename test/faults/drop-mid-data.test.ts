import t from 'tap';
import { startFaultMx, type FaultMx } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay } from './fixtures/harness.js';

// The MX says 354 and drops the connection as soon as body bytes arrive: with a RST, and
// with an orderly FIN. Either way the message was not taken.
t.test('an MX that drops the connection in the middle of DATA: deferred, retried', async (t) => {
  const servers: Record<string, FaultMx> = {
    'rst-in-data.test': await startFaultMx({ body: { kind: 'reset' } }),
    'fin-in-data.test': await startFaultMx({ body: { kind: 'close' } }),
  };
  for (const mx of Object.values(servers)) t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, Object.fromEntries(Object.entries(servers).map(([d, mx]) => [d, mx.route])));
  await proveDeferredAndIsolated(t, relay, servers);
  for (const [d, mx] of Object.entries(servers)) t.equal(mx.dots, 0, `${d}: no final dot ever arrived`);
});
