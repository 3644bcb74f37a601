import t from 'tap';
import { join } from 'node:path';
import Database from '../../src/store/sqlite-driver.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { createSqliteOperations } from '../../src/store/sqlite/operations.js';
import { tempDir } from '../helpers/relay.js';
import { message } from './contract/fixtures.js';
import { planner } from './contract/groups.js';

/**
 * Migration 021 (fewer indexes for the writer) on a database built by the migrations before it and
 * filled by the store: what every reader returns is the same before and after, and the store goes
 * on writing (the rollups keep counting, retention still deletes a message's attempts).
 */

const T0 = 1_760_000_000_000;
const H = 3_600_000;

function oldDatabase(file: string): void {
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of [...MIGRATIONS].filter((m) => m.version < 21).sort((a, b) => a.version - b.version)) {
    old.exec(m.up);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
  }
  old.close();
}

/** 60 messages over three hours, to four domains: delivered, deferred, bounced, some with two recipients; then a queue. */
function fill(db: Db): string[] {
  const ops = createSqliteOperations(db);
  const fate = planner();
  const ids: string[] = [];
  const ctx = (at: number) => ({ startedAt: at, durationMs: 5, hop: { host: 'mx.test', ip: '127.0.0.2', port: 25, tls: null }, hops: [{ host: 'mx.test' }] });
  for (let i = 0; i < 60; i++) {
    const at = T0 + i * 3 * 60_000;
    const to = [`r${i}@d${i % 4}.test`, ...(i % 5 === 0 ? [`s${i}@d${(i + 1) % 4}.test`] : [])];
    const m = message({ at, recipients: to });
    ops.queue.accept([m]);
    ids.push(m.message.id);
    const claimed = ops.recipients.claim(at + 1, at + 600_000, 'node', 10);
    const code = i % 7 === 3 ? 550 : i % 7 === 5 ? 451 : 250;
    const fact = code === 250 ? { kind: 'delivered' as const, reply: { code, enhanced: '2.0.0', text: 'ok' } } : { kind: 'failed' as const, phase: 'rcpt' as const, reply: { code, enhanced: code === 550 ? '5.1.1' : '4.3.0', text: 'no' } };
    ops.fates.record(fate.plan(claimed.map((recipient) => ({ origin: 'attempt' as const, recipient, facts: { fact, firstQueuedAt: at, ctx: ctx(at + 2) } })), at + 2));
    if (code !== 451) ops.retention.clearBodies([m.message.id], at + 3, at + 3, false);
  }
  // And a queue: waiting recipients (one of them in flight).
  for (let i = 0; i < 6; i++) {
    const m = message({ at: T0 + 4 * H + i, recipients: [`w${i}@d${i % 3}.test`, `x${i}@d1.test`] });
    ops.queue.accept([m]);
    ids.push(m.message.id);
  }
  ops.recipients.claim(T0 + 4 * H + 10, T0 + 20 * H, 'node', 1);
  return ids;
}

/** Everything the readers of the changed indexes return. */
function readers(db: Db, ids: readonly string[]) {
  const ops = createSqliteOperations(db);
  const hour = Math.floor(T0 / H);
  return {
    attempts: ids.map((id) => ops.attempts.forMessage(id).map((a) => [a.id, a.recipientId, a.messageId, a.result, a.code])),
    counts: ids.map((id) => ops.retention.countRecord(id)),
    hourly: ['*', 'd0.test', 'd1.test', 'd3.test'].map((d) => ops.stats.hourly(d, hour, hour + 5)),
    topDomains: ops.stats.topDomains(hour, 10),
    categories: ops.stats.hourlyCategories(hour, 10),
    window: ops.stats.recipientsSince(T0 + H),
    topCategories: ops.stats.topCategories(T0, 10),
    pendingOf: ['d0.test', 'd1.test', 'd2.test'].map((d) => ops.recipients.search({ pendingDomain: d }, 50).map((r) => r.recipientId)),
    queue: ops.queueAdmin.summary(T0 + 10 * H),
    queueOfDomain: ops.queueAdmin.summary(T0 + 10 * H, { domain: 'd1.test', state: 'deferred' }),
    pendingAdmin: ops.queueAdmin.pending({ domain: 'd2.test' }).map((r) => r.id),
    console: ops.queueAdmin.destinations(T0 + 10 * H, 10),
  };
}

const indexesOf = (db: Db, table: string): string[] =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all(table) as string[]);

t.test('021 on a populated database: the same answers from every reader, fewer indexes, and the store goes on', async (t) => {
  const file = join(tempDir(t), 'old.db');
  oldDatabase(file);
  // Filled by the store's own code over the old schema (its SQL reads both).
  const before = new Database(file);
  before.pragma('foreign_keys = ON');
  const ids = fill(before);
  const expected = readers(before, ids);
  t.ok(indexesOf(before, 'recipients').includes('recipients_status_domain'), 'the old schema has the indexes 021 drops');
  t.ok(expected.attempts.flat().length >= 60, 'attempts', { n: expected.attempts.flat().length });
  t.ok(expected.hourly[0]!.length >= 3, 'rollups', { hourly: expected.hourly[0] });
  t.ok(expected.queue.length > 0 && expected.pendingOf.flat().length > 0, 'a queue', { queue: expected.queue });
  before.close();

  const db = openDatabase({ file });
  t.teardown(() => db.close());
  t.equal((db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number), 21);
  t.same(indexesOf(db, 'recipients'), ['recipients_address', 'recipients_due', 'recipients_message', 'recipients_pending_age', 'recipients_pending_dest']);
  t.same(indexesOf(db, 'attempts'), ['attempts_at', 'attempts_recipient']);
  t.same((db.prepare("SELECT name FROM pragma_index_info('stats_hourly_hour')").pluck().all() as string[]), ['hour'], 'the hour index no longer holds the counters');
  t.same(readers(db, ids), expected, 'every reader answers as before');
  t.equal(db.pragma('foreign_key_check').length, 0);
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');

  // Writing goes on: one more delivery is counted in the rollups; retention deletes a message's attempts.
  const ops = createSqliteOperations(db);
  const hour = Math.floor(T0 / H);
  const star = () => ops.stats.hourly('*', hour, hour + 5).reduce((n, h) => n + h.delivered, 0);
  const delivered = star();
  const m = message({ at: T0 + 30 * 60_000, recipients: ['late@d0.test'] });
  ops.queue.accept([m]);
  const [r] = ops.recipients.claim(T0 + 31 * 60_000, T0 + H, 'node', 1).filter((x) => x.messageId === m.message.id);
  t.ok(r, 'claimed');
  const plans = planner().plan([{ origin: 'attempt', recipient: r!, facts: { fact: { kind: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: 'ok' } }, firstQueuedAt: T0, ctx: { startedAt: T0, durationMs: 1, hop: { host: 'mx.test', ip: '127.0.0.2', port: 25, tls: null }, hops: [] } } }], T0 + 32 * 60_000);
  t.equal(ops.fates.record(plans)[0]!.applied, true);
  t.equal(star(), delivered + 1, 'the rollup counts the new delivery');
  t.equal(ops.attempts.forMessage(m.message.id).length, 1, 'its attempt is found by message');
  const id = ids[0]!;
  t.ok(expected.counts[0]!.attempts > 0);
  t.same(ops.retention.deleteRecord(id), expected.counts[0], 'retention deletes as many rows as it counted');
  t.equal((db.prepare('SELECT count(*) FROM attempts WHERE message_id = ?').pluck().get(id) as number), 0, "and none of the message's attempts is left");
});
