import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { setupDelivery } from './fixtures/delivery.js';
import { dataDirWithLimits, sendEach, settled, statusCounts } from '../throttle/fixtures.js';

t.test('60 per minute: 120 messages need two minutes of clock, and wait in the queue meanwhile', async (t) => {
  const clock = new ManualClock();
  const T0 = clock.now();
  const dataDir = dataDirWithLimits(t, { 'example.test': { perMinute: 60 } });
  const { mx, ferry, relay } = await setupDelivery(t, { clock, mx: { tls: false }, config: { dataDir } });

  await sendEach(relay, Array.from({ length: 120 }, (_, i) => `r${i}@example.test`), 4);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 60, 'the first minute\'s budget is sent at once');
  t.same(statusCounts(ferry), { delivered: 60, queued: 60 }, 'the rest wait, queued: not deferred, not bounced');
  const attempts = (ferry.db.prepare('SELECT COUNT(*) AS n FROM attempts').get() as { n: number }).n;
  t.equal(attempts, 60, 'waiting for budget is not an attempt');

  clock.advance(59_000);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 60, 'still 60 one second before the minute is over');

  clock.advance(2_000); // T0 + 61 s: the first slot's tokens are back
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 120, 'the second minute carries the rest');
  t.same(statusCounts(ferry), { delivered: 120 });
  t.ok(clock.now() - T0 > 60_000);

  // never more than 60 inside any 60-second window of the (injected) clock
  const times = (ferry.db.prepare("SELECT at FROM attempts WHERE result = 'delivered' ORDER BY at").all() as { at: number }[]).map((r) => r.at);
  for (let i = 60; i < times.length; i++) t.ok(times[i]! - times[i - 60]! >= 60_000, `send ${i} is a minute after send ${i - 60}`);
});

t.test('the budget survives a restart: a new relay on the same data does not start from zero', async (t) => {
  const clock = new ManualClock();
  const dataDir = dataDirWithLimits(t, { 'example.test': { perDay: 5 } });
  const first = await setupDelivery(t, { clock, mx: { tls: false }, config: { dataDir } });
  await sendEach(first.relay, ['a1@example.test', 'a2@example.test', 'a3@example.test'], 1);
  await settled(first.ferry, clock.now());
  t.equal(first.mx!.messages.length, 3);
  await first.ferry.stop(); // writes the budget state

  clock.advance(3_600_000);
  const second = await setupDelivery(t, { clock, mx: { tls: false }, config: { dataDir } });
  await sendEach(second.relay, ['b1@example.test', 'b2@example.test', 'b3@example.test', 'b4@example.test'], 1);
  await settled(second.ferry, clock.now());
  t.equal(second.mx!.messages.length, 2, 'only what is left of the day\'s 5 goes out');
  const waiting = second.ferry.db.prepare("SELECT next_attempt_at AS t FROM recipients WHERE status = 'queued'").all() as { t: number }[];
  t.equal(waiting.length, 2);
  for (const w of waiting) t.ok(w.t >= clock.now() + 20 * 3_600_000, 'due when the first sends are a day old');
});
