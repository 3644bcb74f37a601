import t from 'tap';
import { setupDelivery } from './fixtures/delivery.js';
import { dataDirWithLimits, sendEach, settled, statusCounts } from '../throttle/fixtures.js';

const to = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@example.test`);

t.test('the concurrency cap holds: never more simultaneous connections than the limit', async (t) => {
  const dataDir = dataDirWithLimits(t, { 'example.test': { connections: 2, perConnection: 2 } });
  // A slow MX: every message holds its connection for a while, so waiting messages pile up
  // and the scheduler wants more connections than the cap allows.
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: { dataDelayMs: 80 } }, config: { dataDir } });
  await sendEach(relay, to(24), 6);
  await settled(ferry, Date.now());
  t.same(statusCounts(ferry), { delivered: 24 });
  t.equal(mx!.maxConcurrent, 2, `two connections at once, never three (${mx!.maxConcurrent})`);
  t.ok(mx!.connections >= 12, `24 messages at 2 per connection need at least 12 connections (${mx!.connections})`);
});

t.test('control: without the cap the same load opens more connections at once', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: { dataDelayMs: 80 } } });
  await sendEach(relay, to(24), 6);
  await settled(ferry, Date.now());
  t.same(statusCounts(ferry), { delivered: 24 });
  t.ok(mx!.maxConcurrent > 2, `built-in default allows more (${mx!.maxConcurrent})`);
});

t.test('messages per connection: a connection carries at most that many', async (t) => {
  const dataDir = dataDirWithLimits(t, { 'example.test': { connections: 1, perConnection: 3 } });
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false }, config: { dataDir } });
  // One connection at a time (cap 1), so the MX's connection count when a message arrives
  // names the connection that carried it.
  const carriedBy: number[] = [];
  mx!.setScript({
    dataDelayMs: 30,
    data: () => {
      carriedBy.push(mx!.connections);
      return null;
    },
  });
  await sendEach(relay, to(12), 4);
  await settled(ferry, Date.now());
  t.same(statusCounts(ferry), { delivered: 12 });
  t.equal(mx!.maxConcurrent, 1);
  const perConn = new Map<number, number>();
  for (const c of carriedBy) perConn.set(c, (perConn.get(c) ?? 0) + 1);
  t.equal(carriedBy.length, 12);
  t.ok([...perConn.values()].every((n) => n <= 3), `at most 3 per connection: ${[...perConn.values()].join(',')}`);
  t.ok([...perConn.values()].some((n) => n === 3), 'connections are reused up to the limit');
});
