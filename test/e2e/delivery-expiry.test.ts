import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { waitFor as poll } from '../helpers/bounce.js';
import { attempts, recipients, send, setupDelivery, waitFor } from './fixtures/delivery.js';

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
  // The sender's report is queued after the expiry's commit: let it be queued before the clock
  // jumps (it is due within its own maximum age, then expires in turn).
  const dsn = await poll(() => ferry.db.prepare("SELECT id FROM messages WHERE kind = 'dsn'").get() as { id: string } | undefined, 10_000, 'the DSN');
  // The report's own try (its domain has no MX here: it bounces) must be over before connections
  // are counted and the clock jumps: on a slow machine it was still due when 'nothing waits' was
  // checked 100 ms after the jump.
  await waitFor(ferry, dsn.id, (x) => x.status === 'bounced');

  const connections = mx!.connections;
  clock.advance(6 * 3_600_000);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(mx!.connections, connections, 'nothing more is attempted');
  t.equal(ferry.queue.recipients.nextDueAt(), null, 'nothing waits');
});

t.test('expiry on time: a retry interval reaching past the maximum age is cut to it, and the recipient expires then', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { rcpt: () => ({ code: 450, message: '4.2.0 Mailbox temporarily unavailable' }) } },
    delivery: { retryScheduleMinutes: [240], retryJitter: 0, maxAgeHours: 1 },
  });
  const id = await send(relay, { to: ['late@example.test'] });
  const [first] = await waitFor(ferry, id, (x) => x.attempts === 1);
  t.equal(first!.status, 'deferred');
  t.equal(first!.nextAttemptAt, t0 + 3_600_000, 'the next try is at the expiry time, not 4 hours later');
  clock.advance(3_600_000);
  const [r] = await waitFor(ferry, id, (x) => x.status === 'expired');
  t.same(attempts(ferry, id).map((a) => [a.result, (a.at - t0) / 60_000]), [['deferred', 0], ['expired', 60]], 'expired at 60 min');
  t.equal(r!.updatedAt, t0 + 3_600_000);
  t.ok(mx!.connections >= 2);
});

t.test('expiry on time: a recipient whose next try lies beyond its maximum age expires when the age passes, without a try', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { rcpt: () => ({ code: 450, message: '4.2.0 Mailbox temporarily unavailable' }) } },
    delivery: { retryScheduleMinutes: [240], retryJitter: 0, maxAgeHours: 72 },
    // The report to the sender (whose domain takes no mail here) is final at its first try;
    // keep its body until the test has read it.
    config: { retention: { keepBodiesHours: 24 } },
  });
  const id = await send(relay, { to: ['held@example.test'] });
  const [first] = await waitFor(ferry, id, (x) => x.attempts === 1);
  t.equal(first!.nextAttemptAt, t0 + 4 * 3_600_000, 'next try in 4 hours');
  // The operator shortens the window: the next try (4 h) now lies past the new maximum age (1 h).
  const result = await ferry.reload({ ...ferry.config, delivery: { ...ferry.config.delivery, maxAgeHours: 1 } } as typeof ferry.config);
  t.ok(result.ok);
  const connections = mx!.connections;
  clock.advance(59 * 60_000);
  await new Promise((res) => setTimeout(res, 50));
  t.equal(recipients(ferry, id)[0]!.status, 'deferred', 'before the hour: still waiting');
  clock.advance(60_000);
  clock.advance(6_000);
  const [r] = await waitFor(ferry, id, (x) => x.status === 'expired');
  t.ok(r!.updatedAt - t0 <= 3_600_000 + 6_000, `expired within seconds of the hour (${(r!.updatedAt - t0) / 1000} s)`);
  t.equal(r!.attempts, 1, 'without another attempt');
  t.equal(mx!.connections, connections, 'no connection for it');
  t.equal(r!.lastCode, 450, 'the last remote reply stays the reason on record');
  const ev = ferry.queue.events.forMessage(id).at(-1)!;
  t.equal(ev.type, 'expired');
  t.match(ev.detail, { reason: /not delivered within 1 hour \(delivery.maxAgeHours\)/ });
  // The sender's report: final, so no Will-Retry-Until.
  const dsn = await (async () => {
    for (let i = 0; i < 100; i++) {
      const row = ferry.db.prepare("SELECT headers, body FROM messages WHERE kind = 'dsn'").get() as { headers: Buffer; body: Buffer } | undefined;
      if (row) return Buffer.concat([row.headers, row.body]).toString();
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('no DSN queued');
  })();
  t.match(dsn, /Action: failed/);
  t.match(dsn, /Final-Recipient: rfc822; held@example\.test/);
  t.notMatch(dsn, /Will-Retry-Until/i);
});
