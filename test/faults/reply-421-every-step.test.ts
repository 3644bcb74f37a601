import t from 'tap';
import { startFaultMx, type FaultMx, type Step } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay } from './fixtures/harness.js';

// "421 Service not available, closing transmission channel" at each step of the dialogue,
// followed by the close a 421 announces.
t.test('421 at every step (greeting, EHLO, MAIL, RCPT, DATA, after the dot): deferred, retried', async (t) => {
  const steps: Step[] = ['greeting', 'ehlo', 'mail', 'rcpt', 'data', 'dot'];
  const servers: Record<string, FaultMx> = {};
  for (const step of steps) {
    servers[`${step}-421.test`] = await startFaultMx({ [step]: { kind: 'reply', lines: ['421 4.3.2 Service not available, closing channel'], then: 'close' } });
  }
  for (const mx of Object.values(servers)) t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, Object.fromEntries(Object.entries(servers).map(([d, mx]) => [d, mx.route])));
  await proveDeferredAndIsolated(t, relay, servers);
  for (const step of steps) {
    const id = relay.ferry.queue.messages.list({ limit: 100 }).find((m) => relay.recipients(m.id).some((r) => r.address === `user@${step}-421.test`))?.id;
    const row = id ? relay.recipients(id).find((r) => r.address === `user@${step}-421.test`) : undefined;
    t.equal(row?.lastCode, 421, `${step}: the recorded reply is the 421 (${row?.lastReply})`);
  }
});
