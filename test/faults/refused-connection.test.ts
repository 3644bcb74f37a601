import t from 'tap';
import { refusedPort } from './fixtures/fault-mx.js';
import { FAST_DELIVERY, startFaultRelay, waitUntil } from './fixtures/harness.js';

// Nothing listens on the broken MX's port: every connect is refused (RST).
t.test('a refused connection defers and retries; good.test is served meanwhile', async (t) => {
  const port = await refusedPort('127.0.0.2');
  const relay = await startFaultRelay(t, { 'broken.test': `127.0.0.2:${port}` });
  const broken = await relay.send(['user@broken.test']);
  const mixed = await relay.send(['other@broken.test', 'someone@good.test']);
  await relay.good.waitForMessages(1, 5000);
  const goodRow = () => relay.recipients(mixed).find((r) => r.domain === 'good.test');
  await waitUntil(() => goodRow()?.status === 'delivered', 2000, () => JSON.stringify(goodRow()));
  t.pass('the good recipient of the mixed message is delivered');
  await waitUntil(
    () => [broken, mixed].flatMap((id) => relay.recipients(id)).filter((r) => r.domain === 'broken.test').every((r) => r.status === 'deferred' && r.attempts >= 2),
    10_000,
    () => JSON.stringify(relay.recipients(broken)),
  );
  const row = relay.recipients(broken)[0]!;
  t.equal(row.status, 'deferred');
  t.ok(row.attempts >= 2, `retried (${row.attempts} attempts)`);
  t.match(row.lastReply ?? '', /ECONNREFUSED|refused/i, `the reason names the refusal: ${row.lastReply}`);
  t.ok(FAST_DELIVERY.connectTimeoutMs > 0);
  const after = await relay.send(['later@good.test']);
  await waitUntil(() => relay.recipients(after)[0]?.status === 'delivered', 5000, () => 'later@good.test not delivered');
});
