import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { runFerry } from '../helpers/cli.js';
import { dataDirWithLimits, sendEach, settled } from '../throttle/fixtures.js';
import { isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

// `ferry messages show` and `ferry queue list` through the real command, on a relay's data.

const LONG_REPLY = `4.3.0 ${'Greylisted: the server is busy and this text goes on '.repeat(14).trim()}`;

t.test('deferred with a long reply, then delivered: table fits the width, no category on the delivered recipient', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { data: (n) => (n === 1 ? { code: 451, message: LONG_REPLY } : null) } },
    delivery: { retryScheduleMinutes: [5], retryJitter: 0 },
  });
  const id = await send(relay, { to: ['carol@example.test'] });
  await waitFor(ferry, id, isStatus('deferred'));
  clock.advance(5 * 60_000);
  await waitFor(ferry, id, isStatus('delivered'));
  t.equal(mx!.messages.length, 1);
  const env = { FERRY_DATA_DIR: relay.dataDir };

  const shown = await runFerry(['messages', 'show', id], { env });
  t.equal(shown.code, 0, shown.stderr);
  const widest = Math.max(...shown.stdout.split('\n').map((l) => l.length));
  t.ok(widest <= 120, `not a terminal: at most 120 columns (widest line: ${widest})`);
  t.match(shown.stdout, /Greylisted/, 'the long reply is there, wrapped');
  const [recipientsPart, rest] = shown.stdout.split('\nattempts\n');
  t.match(recipientsPart, /carol@example\.test.*delivered/);
  t.notMatch(recipientsPart, /temporary/, 'a delivered recipient shows no category');
  t.match(rest, /temporary/, 'the deferred attempt keeps its category');

  const narrow = await runFerry(['messages', 'show', id], { env: { ...env, COLUMNS: '80' } });
  t.ok(Math.max(...narrow.stdout.split('\n').map((l) => l.length)) <= 80, 'COLUMNS=80: at most 80 columns');
  t.match(narrow.stdout, new RegExp(id), 'the queue id is not cut');

  const json = await runFerry(['messages', 'show', id, '--json'], { env });
  const doc = JSON.parse(json.stdout) as { recipients: { status: string; category: string | null }[]; attempts: { reply: string | null }[] };
  t.same(doc.recipients.map((r) => [r.status, r.category]), [['delivered', null]], 'stored without a category');
  t.equal(doc.attempts[0]!.reply, `451 ${LONG_REPLY}`, '--json keeps the full reply');
});

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
