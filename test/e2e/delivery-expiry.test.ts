import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { attempts, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('still failing when maxAgeHours has passed: expired, and no more attempts', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { rcpt: () => ({ code: 450, message: '4.2.0 Mailbox temporarily unavailable' }) } },
    delivery: { retryScheduleMinutes: [20], retryJitter: 0, maxAgeHours: 1 },
  });
  const id = await send(relay, { to: ['max@example.test'] });
  await waitFor(ferry, id, (r) => r.attempts === 1);
  for (let i = 2; i <= 3; i++) {
    clock.advance(20 * 60_000);
    const [r] = await waitFor(ferry, id, (x) => x.attempts === i);
    t.equal(r!.status, 'deferred', `attempt ${i} at ${(i - 1) * 20} min: still within the hour`);
  }
  clock.advance(20 * 60_000);
  const [r] = await waitFor(ferry, id, (x) => x.attempts === 4);
  t.equal(r!.status, 'expired', 'failed again at 60 min: expired');
  t.equal(r!.nextAttemptAt, null);
  t.equal(r!.lastCode, 450);
  t.same(attempts(ferry, id).map((a) => [a.result, (a.at - t0) / 60_000]), [['deferred', 0], ['deferred', 20], ['deferred', 40], ['expired', 60]]);
  t.equal(ferry.queue.events.forMessage(id).at(-1)!.type, 'expired');

  const connections = mx!.connections;
  clock.advance(6 * 3_600_000);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(mx!.connections, connections, 'nothing more is attempted');
  t.equal(ferry.queue.recipients.nextDueAt(), null, 'nothing waits');
});
