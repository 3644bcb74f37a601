import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { attempts, isStatus, send, setupDelivery, tick, waitFor } from './fixtures/delivery.js';

t.test('4xx at the final dot defers on the schedule; after the clock passes it, the retry delivers', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { data: (n) => (n === 1 ? { code: 451, message: '4.3.0 Temporary local problem, try later' } : null) } },
    delivery: { retryScheduleMinutes: [5, 10, 30], retryJitter: 0 },
  });
  const id = await send(relay, { to: ['carol@example.test'] });

  const [r] = await waitFor(ferry, id, isStatus('deferred'));
  t.equal(r!.attempts, 1);
  t.equal(r!.lastCode, 451);
  t.equal(r!.lastReply, '451 4.3.0 Temporary local problem, try later');
  t.equal(r!.nextAttemptAt, t0 + 5 * 60_000, 'first retry from the schedule: 5 minutes');
  t.equal(r!.leaseUntil, null);
  t.equal(mx!.messages.length, 0);

  // just before the retry time nothing happens (the scheduler wakes, finds nothing due)
  clock.advance(5 * 60_000 - 1000);
  await tick(100);
  t.equal(ferry.queue.recipients.forMessage(id)[0]!.attempts, 1, 'no attempt before the schedule says');

  clock.advance(1000);
  const [done] = await waitFor(ferry, id, isStatus('delivered'));
  t.equal(done!.attempts, 2);
  t.equal(done!.lastCode, 250);
  t.equal(mx!.messages.length, 1);

  const a = attempts(ferry, id);
  t.same(a.map((x) => [x.result, x.code, x.at]), [['deferred', 451, t0], ['delivered', 250, t0 + 5 * 60_000]]);
  t.equal(a[0]!.category, 'temporary');
  t.same(ferry.queue.events.forMessage(id).map((e) => e.type), ['queued', 'deferred', 'delivered']);
  const deferredEvent = ferry.queue.events.forMessage(id)[1]!;
  t.equal(deferredEvent.detail!.nextAttemptAt, new Date(t0 + 5 * 60_000).toISOString());
});

t.test('a network failure (MX down) also defers, and the second retry waits the second step', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  const { ferry, relay } = await setupDelivery(t, { clock, mx: null, delivery: { retryScheduleMinutes: [5, 10, 30], retryJitter: 0 } });
  const id = await send(relay, { to: ['dave@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('deferred'));
  t.equal(r!.nextAttemptAt, t0 + 5 * 60_000);
  t.equal(r!.lastCode, null);
  t.match(r!.lastReply, /no mail server of example\.test took a session/);
  clock.advance(5 * 60_000);
  const [r2] = await waitFor(ferry, id, (x) => x.attempts === 2);
  t.equal(r2!.status, 'deferred');
  t.equal(r2!.nextAttemptAt, t0 + 15 * 60_000, 'second step: 10 minutes after the second attempt');
});
