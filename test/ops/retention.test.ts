import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import t from 'tap';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRetention, type RetentionSettings } from '../../src/ops/retention.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createWebhooksRepo } from '../../src/store/webhooks-repo.js';
import { tempDir } from '../helpers/relay.js';
import { NOW, seed } from './fixtures/seed.js';

/**
 * The retention pass against a real SQLite file: what it keeps and why. The seeded history
 * (test/ops/fixtures/seed.ts): M0 finished two days ago, M1 with a recipient still deferred, M2
 * still queued. Batches of one message, so every pass crosses many batch boundaries.
 */

const HOUR = 3_600_000;

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0], settings: Partial<RetentionSettings> = {}, urls: string[] = []) {
  const db = openDatabase({ file: join(tempDir(t), 'ferry.db') });
  t.teardown(() => db.close());
  seed(db);
  const clock = new ManualClock(NOW);
  const removed: string[] = [];
  const current: RetentionSettings = { days: 1, keepBodiesHours: 0, sweepIntervalMs: 60_000, batchSize: 1, ...settings };
  const retention = createRetention({
    store: createInProcessSqliteStore(db),
    removeSpoolFile: async (f) => void removed.push(f),
    clock,
    logger: silentLogger(),
    settings: () => current,
    webhookUrls: () => urls,
  });
  return { db, clock, retention, removed, current };
}

const has = (db: Db, id: string) => db.prepare('SELECT 1 FROM messages WHERE id = ?').get(id) !== undefined;
const body = (db: Db, id: string) => (db.prepare('SELECT body FROM messages WHERE id = ?').get(id) as { body: Buffer | null }).body;
const count = (db: Db, table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

t.test('one pass: finished bodies and old records go, pending mail and the suppression list stay; a dry run changes nothing', async (t) => {
  const { db, retention } = setup(t);
  const before = { events: count(db, 'events'), suppressions: count(db, 'suppressions') };
  const dry = await retention.run({ dryRun: true });
  t.match(dry, { dryRun: true, messages: 1, recipients: 1, attempts: 1, bodies: { inline: 1, files: 0 } });
  t.ok(has(db, 'M0') && body(db, 'M0'), 'dry run: M0 and its body still there');
  t.equal(count(db, 'events'), before.events);

  const report = await retention.run();
  t.match(report, { dryRun: false, messages: 1, recipients: 1, attempts: 1, events: dry.events, bodies: { inline: 1 } });
  t.notOk(has(db, 'M0'), 'M0 (finished two days ago, retention.days 1) is gone');
  t.equal(count(db, 'events'), before.events - dry.events);
  t.ok(body(db, 'M1'), 'M1 keeps its body: a recipient is still deferred');
  t.ok(body(db, 'M2'), 'M2 keeps its body: queued');
  t.equal(count(db, 'suppressions'), before.suppressions, 'suppressions are never pruned by age (one is 3 days old)');
  t.match(await retention.run(), { messages: 0, bodies: { inline: 0 } }, 'a second pass finds nothing');
});

t.test('a record with a DSN still to queue, or events a webhook has not been sent, is kept until they are done', async (t) => {
  const url = 'https://hooks.test/ferry';
  const { db, retention } = setup(t, {}, [url]);
  const webhooks = createWebhooksRepo(db);
  const m0Last = (db.prepare("SELECT max(id) AS id FROM events WHERE message_id = 'M0'").get() as { id: number }).id;
  webhooks.ensure(url, m0Last - 1, NOW);
  db.prepare('INSERT INTO dsn_outbox (message_id, recipients, created_at) VALUES (?, ?, ?)').run('M0', '[]', NOW);

  t.match(await retention.run(), { messages: 0, heldBack: { dsn: 1, webhook: 0 } }, 'held back by the DSN outbox');
  db.prepare("DELETE FROM dsn_outbox WHERE message_id = 'M0'").run();
  t.match(await retention.run(), { messages: 0, heldBack: { dsn: 0, webhook: 1 } }, 'held back by the webhook cursor');
  t.ok(has(db, 'M0'));
  webhooks.advance(url, m0Last, NOW);
  t.match(await retention.run(), { messages: 1, heldBack: { dsn: 0, webhook: 0 } }, 'sent: pruned');
  t.notOk(has(db, 'M0'));
});

t.test('keepBodiesHours and days 0', async (t) => {
  const { db, retention, current } = setup(t, { keepBodiesHours: 100, days: 0 });
  t.match(await retention.run(), { messages: 0, bodies: { inline: 0 } }, 'M0 finished 47 h ago: body kept (100 h), record kept (days 0)');
  t.ok(body(db, 'M0'));
  current.keepBodiesHours = 24;
  t.match(await retention.run(), { messages: 0, bodies: { inline: 1 } }, 'a shorter keep (read at each pass) lets it go');
  t.equal(body(db, 'M0'), null);
  t.ok(has(db, 'M0'), 'the record stays with days 0');
});

t.test('the relay side: finished() clears bodies at once, the timer runs passes, stop() ends them', async (t) => {
  const { db, clock, retention } = setup(t, { days: 0 });
  // The deferred recipient of M1 ends: the relay reports the message as finished.
  db.prepare("UPDATE recipients SET status = 'expired', next_attempt_at = NULL WHERE message_id = 'M1' AND status = 'deferred'").run();
  retention.finished(['M1']);
  for (let i = 0; i < 1000 && body(db, 'M1'); i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(body(db, 'M1'), null, 'M1 body cleared by the fast path');
  t.ok(body(db, 'M0'), 'M0 untouched: only the periodic pass looks at everything');

  // The store's operations are asynchronous: the pass arms its next timer a few turns after its last write.
  let timersSet = 0;
  const setTimer = clock.setTimer.bind(clock);
  clock.setTimer = (ms, fn) => (timersSet++, setTimer(ms, fn));
  retention.start();
  for (let i = 0; i < 1000 && body(db, 'M0'); i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(body(db, 'M0'), null, 'the first pass at start removes what finished while the relay was down');
  for (let i = 0; i < 1000 && timersSet === 0; i++) await new Promise((r) => setTimeout(r, 10));
  db.prepare("UPDATE recipients SET status = 'expired', next_attempt_at = NULL WHERE message_id = 'M2'").run();
  clock.advance(60_000);
  for (let i = 0; i < 1000 && body(db, 'M2'); i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(body(db, 'M2'), null, 'the next periodic pass');
  await retention.stop();
  retention.finished(['M0']);
  t.equal(count(db, 'messages'), 3, 'records kept (days 0)');
});
