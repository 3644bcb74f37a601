import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createLimitsRepo } from '../../src/store/limits-repo.js';
import { setupDelivery } from './fixtures/delivery.js';
import { sendEach, settled, statusCounts } from '../throttle/fixtures.js';

// A reload (SIGHUP, `ferry reload`) re-reads the limits at once, rather than at the throttle's
// next look at the database: the interval here is an hour, so only the reload can explain it.
t.test('reload applies a limit changed in the database immediately', async (t) => {
  const clock = new ManualClock(Date.now());
  const { mx, ferry, relay } = await setupDelivery(t, { clock, mx: { tls: false }, config: { limits: { reloadIntervalMs: 3_600_000 } } });

  createLimitsRepo(ferry.db).set('example.test', { perMinute: 2, perHour: null, perDay: null, connections: null, perConnection: null }, clock.now());
  const result = await ferry.reload(ferry.config);
  t.ok(result.ok, 'the same configuration reloads');

  await sendEach(relay, ['a0@example.test', 'a1@example.test', 'a2@example.test', 'a3@example.test'], 1);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 2, 'the new limit (2 per minute) holds right after the reload');
  t.same(statusCounts(ferry), { delivered: 2, queued: 2 });
});
