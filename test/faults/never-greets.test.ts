import t from 'tap';
import { startFaultMx } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay } from './fixtures/harness.js';

// The MX accepts TCP and never says a word: the greeting timeout must end the wait.
t.test('an MX that accepts TCP and never greets: deferred, retried, good.test served', async (t) => {
  const mx = await startFaultMx({ greeting: { kind: 'stall' } });
  t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, { 'silent.test': mx.route });
  await proveDeferredAndIsolated(t, relay, { 'silent.test': mx });
  t.same(mx.commands, [], 'Ferry never spoke before the greeting');
});
