import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { runFerry } from '../helpers/cli.js';
import { dataDirWithLimits, sendEach, settled } from '../throttle/fixtures.js';
import { setupDelivery } from './fixtures/delivery.js';

// A recipient held back by a rate limit, as `ferry messages show` and `ferry queue list` report it.

t.test('a recipient held back by a rate limit says so in messages show and queue list', async (t) => {
  const clock = new ManualClock(Date.now());
  const dataDir = dataDirWithLimits(t, { 'example.test': { perHour: 1 } });
  const { mx, ferry, relay } = await setupDelivery(t, { clock, mx: { tls: false }, config: { dataDir } });
  await sendEach(relay, ['first@example.test', 'second@example.test'], 1);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 1, 'one per hour: the second waits');
  const held = ferry.db.prepare("SELECT message_id AS id, next_attempt_at AS at FROM recipients WHERE status = 'queued'").get() as { id: string; at: number };
  t.ok(held.at > clock.now() + 50 * 60_000, 'held for most of an hour');
  const until = new Date(held.at).toISOString().slice(11, 19);
  const sameDay = new Date(held.at).toISOString().slice(0, 10) === new Date().toISOString().slice(0, 10);
  const expected = sameDay ? `rate limited until ${until} UTC` : `rate limited until ${new Date(held.at).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
  const env = { FERRY_DATA_DIR: relay.dataDir };

  // wide enough that the status cell is not wrapped
  const shown = await runFerry(['messages', 'show', held.id], { env: { ...env, COLUMNS: '200' } });
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout.replace(/[│\s]+/g, ' '), `queued (${expected})`);

  const queue = await runFerry(['queue', 'list'], { env: { ...env, COLUMNS: '200' } });
  t.equal(queue.code, 0, queue.stderr);
  t.match(queue.stdout.replace(/[│\s]+/g, ' '), `1 ${expected}`);
  const queueJson = JSON.parse((await runFerry(['queue', 'list', '--json'], { env })).stdout) as { rateLimited: number; rateLimitedUntil: string }[];
  t.equal(queueJson[0]!.rateLimited, 1);

  // `queue retry` makes it due now: no longer "rate limited until" a time in the past.
  t.equal((await runFerry(['queue', 'retry', held.id], { env })).code, 0);
  const after = await runFerry(['messages', 'show', held.id], { env });
  t.notMatch(after.stdout, /rate limited/);
});
