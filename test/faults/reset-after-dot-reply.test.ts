import t from 'tap';
import { startFaultMx } from './fixtures/fault-mx.js';
import { startFaultRelay, waitUntil, sleep } from './fixtures/harness.js';

// The MX answers 250 to the final dot and resets the connection at once (before RSET/QUIT).
// The 2xx was read: the recipient is delivered, exactly once, and the reset costs nothing.
t.test('250 to the final dot, then a reset: delivered once', async (t) => {
  const rst = await startFaultMx({ dot: { kind: 'bytes', bytes: '250 2.0.0 Ok: queued as R1\r\n', then: 'reset' } });
  const fin = await startFaultMx({ dot: { kind: 'bytes', bytes: '250 2.0.0 Ok: queued as F1\r\n', then: 'close' } });
  t.teardown(() => rst.close());
  t.teardown(() => fin.close());
  const relay = await startFaultRelay(t, { 'rst.test': rst.route, 'fin.test': fin.route });
  const ids = [
    await relay.send(['a@rst.test']),
    await relay.send(['b@rst.test']),
    await relay.send(['c@fin.test', 'd@good.test']),
  ];
  const rows = () => ids.flatMap((id) => relay.recipients(id));
  await waitUntil(() => rows().every((r) => r.status === 'delivered'), 10_000, () => JSON.stringify(rows().map((r) => [r.address, r.status, r.lastReply])));
  for (const r of rows()) t.equal(r.status, 'delivered', `${r.address} delivered (${r.lastReply})`);
  t.match(rows().find((r) => r.address === 'a@rst.test')?.lastReply ?? '', /queued as R1/, 'the recorded reply is the 250 that was read');
  // give a wrong retry the time to happen, then count
  await sleep(1500);
  t.equal(rst.dots, 2, 'each rst.test message crossed the final dot exactly once');
  t.equal(fin.dots, 1, 'the fin.test message crossed the final dot exactly once');
});
