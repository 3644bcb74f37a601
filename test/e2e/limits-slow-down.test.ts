import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { setupDelivery } from './fixtures/delivery.js';
import { dataDirWithLimits, savedBudget, sendEach, settled } from '../throttle/fixtures.js';


t.test('a 421 4.7.0 rate-limit reply halves the rate for a cool-down, then it comes back in steps', async (t) => {
  const clock = new ManualClock();
  const T0 = clock.now();
  const dataDir = dataDirWithLimits(t, { 'example.test': { perMinute: 40 } });
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false },
    config: { dataDir, limits: { slowDown: { cooldownMs: 600_000, restoreStepMs: 300_000, minHalvingIntervalMs: 60_000 } } },
  });
  let throttling = true;
  mx!.setScript({ data: () => (throttling ? { code: 421, message: '4.7.0 Too many messages from your IP, slow down' } : null) });

  await sendEach(relay, ['r1@example.test'], 1);
  await settled(ferry, clock.now());
  clock.advance(5_000); // state saved
  let s = await savedBudget(ferry, 'example.test', (b) => b.slowPerMinute === 20, 'slowPerMinute 20');
  t.equal(s.slowPerMinute, 20, '40 per minute halved to 20');
  t.equal(s.slowRestoreTo, 40);
  t.equal(s.slowUntil, T0 + 600_000, 'for the cool-down');
  t.match(s.slowReason, /421 4\.7\.0 Too many messages/);
  const r = ferry.queue.recipients.forMessage(ferry.db.prepare('SELECT id FROM messages').pluck().get() as string)[0]!;
  t.equal(r.status, 'deferred', 'the message itself is retried later, as for any 4xx');
  t.equal(r.category, 'rate_limited');

  // A second complaint a minute later halves again; the floor is 1 per minute.
  clock.advance(60_000);
  await sendEach(relay, ['r2@example.test'], 1);
  await settled(ferry, clock.now());
  clock.advance(5_000);
  s = await savedBudget(ferry, 'example.test', (b) => b.slowPerMinute === 10, 'slowPerMinute 10');
  t.equal(s.slowPerMinute, 10, 'halved again: 10 per minute');
  t.equal(s.slowRestoreTo, 40, 'still coming back to 40');
  const until = s.slowUntil!;

  // While slowed, the effective rate is enforced: 10 per minute, not 40.
  throttling = false;
  const before = mx!.messages.length;
  await sendEach(relay, Array.from({ length: 15 }, (_, i) => `s${i}@example.test`), 3);
  await settled(ferry, clock.now());
  t.ok(mx!.messages.length - before <= 10, `at most 10 of 15 in the slowed minute (${mx!.messages.length - before})`);

  // Recovery: after the cool-down the rate doubles each step until it is back at 40.
  clock.advance(until - clock.now() + 1_000);
  await settled(ferry, clock.now());
  clock.advance(5_000);
  s = await savedBudget(ferry, 'example.test', (b) => b.slowPerMinute === 20, 'slowPerMinute 20');
  t.equal(s.slowPerMinute, 20, 'one step after the cool-down: 20');
  clock.advance(300_000);
  await settled(ferry, clock.now());
  clock.advance(5_000);
  s = await savedBudget(ferry, 'example.test', (b) => b.slowPerMinute === null, 'no slow-down');
  t.equal(s.slowPerMinute, null, 'next step: back at the configured 40, slow-down over');
});

t.test('a destination with no per-minute limit is slowed from the rate it was getting', async (t) => {
  const clock = new ManualClock();
  const { mx, ferry, relay } = await setupDelivery(t, { clock, mx: { tls: false } });
  mx!.setScript({ data: (n) => (n === 9 ? { code: 421, message: '4.7.0 Rate limit exceeded, try again later' } : null) });
  await sendEach(relay, Array.from({ length: 9 }, (_, i) => `u${i}@example.test`), 1);
  await settled(ferry, clock.now());
  clock.advance(5_000);
  const s = await savedBudget(ferry, 'example.test', (b) => b.slowPerMinute === 4, 'slowPerMinute 4');
  t.equal(s.slowPerMinute, 4, '9 sent in the last minute, halved: 4 per minute');
  t.equal(s.target, 'default');
});
