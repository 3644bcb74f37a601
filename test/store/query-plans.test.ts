import t from 'tap';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createSqliteOperations } from '../../src/store/sqlite/operations.js';
import { createRecipientsRepo } from '../../src/store/recipients-repo.js';
import type { FerryError } from '../../src/core/errors.js';

/**
 * The query plans of the SQLite store, pinned: which index each hot, console and admin query
 * uses (issue 13: indexes cost the writer a page per commit each, so the schema keeps only what a
 * query needs — migration 021). Dropping an index a query needs makes its plan change here,
 * loudly; an index no query uses fails the last test (drop it, or say which query needs it).
 *
 * Every statement the store prepares is captured (the operations' prepared statements, and the
 * SQL built per call by the listings and the queue admin, called with each filter), and its
 * EXPLAIN QUERY PLAN read with placeholder values.
 */

const HOT = ['messages', 'recipients', 'events', 'attempts', 'message_bodies', 'stats_hourly', 'stats_categories_hourly'];

function capture(): { db: Db; plans: Map<string, string> } {
  const db = openDatabase({ file: ':memory:' });
  const seen = new Set<string>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    seen.add(sql);
    return prepare(sql);
  }) as Db['prepare'];
  const ops = createSqliteOperations(db);
  const now = 1_760_000_000_000;
  // SQL written per call: each filter shape the callers use.
  ops.messages.list({ limit: 10 });
  ops.messages.list({ limit: 10, since: 1, status: 'queued', recipient: 'a@b.test' });
  ops.messages.list({ limit: 10, before: { createdAt: 1, id: 'x' } });
  ops.messages.count({ since: 1 }, 10);
  ops.messages.count({ recipient: 'a@b.test' }, 10);
  ops.events.list({ limit: 10 });
  ops.events.list({ since: 1, limit: 10, order: 'desc' });
  ops.events.list({ messageId: 'x', limit: 10 });
  ops.events.list({ afterId: 1, limit: 5 });
  ops.events.count({ since: 1, beforeId: 3 });
  ops.events.count({ messageId: 'x', beforeId: 3 });
  ops.queueAdmin.summary(now);
  ops.queueAdmin.summary(now, { domain: 'x.test' });
  ops.queueAdmin.summary(now, { state: 'in-flight' });
  ops.queueAdmin.summary(now, { domain: 'x.test', state: 'queued' });
  for (const sel of [{ domain: 'x.test' }, { messageId: 'x' }, { all: true as const }]) {
    ops.queueAdmin.retry(sel, now);
    ops.queueAdmin.pending(sel);
  }
  ops.queueAdmin.messageExists('x');
  // A status change's statement is prepared at its first use, one per target status.
  const recipients = createRecipientsRepo(db);
  for (const status of ['deferred', 'delivered', 'bounced', 'expired'] as const) {
    try {
      recipients.changeStatus(0, { status, at: now, nextAttemptAt: null, attempted: true });
    } catch (err) {
      if ((err as FerryError).code !== 'FERRY_ERR_ILLEGAL_TRANSITION') throw err;
    }
  }
  db.prepare = prepare;

  const plans = new Map<string, string>();
  for (const sql of seen) {
    const bare = sql.replace(/'[^']*'/g, "''");
    if (!HOT.some((table) => new RegExp(`\\b${table}\\b`).test(bare))) continue;
    const st = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
    const names = [...bare.matchAll(/[@:$]([A-Za-z_]\w*)/g)].map((m) => m[1]!);
    const rows = (names.length
      ? st.all(Object.fromEntries(names.map((n) => [n, 1])))
      : st.all(...Array<number>((bare.match(/\?/g) ?? []).length).fill(1))) as { detail: string }[];
    plans.set(sql.replace(/\s+/g, ' ').trim(), rows.map((r) => r.detail).join(' | '));
  }
  return { db, plans };
}

const { db, plans } = capture();
t.teardown(() => db.close());

/** The plans of the statements whose SQL contains every fragment (at least one must). */
function plansOf(t: Tap, ...fragments: string[]): string[] {
  const found = [...plans].filter(([sql]) => fragments.every((f) => sql.includes(f))).map(([, plan]) => plan);
  t.ok(found.length > 0, `a statement with ${fragments.join(' … ')} is prepared`);
  return found;
}
type Tap = Parameters<Parameters<typeof t.test>[1]>[0];

// [what, SQL fragments, what the plan must contain]
const PINS: [string, string[], string[]][] = [
  // The writer's per-message path.
  ['insert a recipient', ['INSERT INTO recipients'], []],
  ['claim: the due index, oldest due first, no sort', ['INDEXED BY recipients_due', 'ORDER BY next_attempt_at'], ['SEARCH recipients USING INDEX recipients_due (next_attempt_at<?)']],
  ['lease a claimed row', ['SET lease_until = @until, lease_owner = @owner'], ['USING INTEGER PRIMARY KEY (rowid=?)']],
  ['renew leases by id, not by status', ['json_each(@ids)'], ['SEARCH recipients USING INTEGER PRIMARY KEY (rowid=?)']],
  ['a fate re-reads the recipient', ['SELECT status, lease_until, lease_owner FROM recipients WHERE id = ?'], ['INTEGER PRIMARY KEY (rowid=?)']],
  ['a fate changes the status', ['UPDATE recipients SET status = @status'], ['INTEGER PRIMARY KEY (rowid=?)']],
  ['release', ['wait_reason = @reason WHERE id = @id'], ['INTEGER PRIMARY KEY (rowid=?)']],
  ['next due time', ['SELECT MIN(next_attempt_at)'], ['recipients_due']],
  ['wake held recipients', ['UPDATE recipients INDEXED BY recipients_due'], ['recipients_due (next_attempt_at>?)']],
  ['overdue sweep', ['INDEXED BY recipients_pending_age'], ['recipients_pending_age (status=? AND created_at<?)']],
  ['a body to clear', ['m.id = ? AND (m.body IS NOT NULL'], ['sqlite_autoindex_messages_1 (id=?)', 'recipients_message (message_id=?)']],
  ['clear a body', ['UPDATE messages SET body = NULL'], ['sqlite_autoindex_messages_1 (id=?)', 'recipients_message (message_id=?)']],
  ['read a message and its body', ['LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?'], ['sqlite_autoindex_messages_1 (id=?)', 'sqlite_autoindex_message_bodies_1 (message_id=?)']],
  ['a delay report once', ['SET dsn_delay_at'], ['INTEGER PRIMARY KEY (rowid=?)']],
  ['mailbox-full streak', ['SELECT min(at) FROM attempts WHERE recipient_id = @id'], ['attempts_recipient (recipient_id=? AND rowid>?)', 'attempts_recipient (recipient_id=?)']],
  // Retention.
  ['bodies still held', ['INDEXED BY messages_with_body'], ['messages_with_body (created_at>?)']],
  ['old messages', ['INDEXED BY messages_created'], ['messages_created (created_at>? AND created_at<?)']],
  ["a message's attempts (count)", ['SELECT count(*) FROM recipients r JOIN attempts a'], ['recipients_message (message_id=?)', 'attempts_recipient (recipient_id=?)']],
  ["a message's attempts (delete)", ['DELETE FROM attempts WHERE recipient_id IN'], ['attempts_recipient (recipient_id=?)', 'recipients_message (message_id=?)']],
  ["a message's events (delete)", ['DELETE FROM events WHERE message_id = ?'], ['events_message (message_id=?)']],
  ["a message's recipients (delete, cascading to attempts)", ['DELETE FROM recipients WHERE message_id = ?'], ['recipients_message (message_id=?)', 'attempts_recipient (recipient_id=?)']],
  ['delete a message (cascades)', ['DELETE FROM messages WHERE id = ?'], ['sqlite_autoindex_messages_1 (id=?)', 'recipients_message (message_id=?)', 'sqlite_autoindex_message_bodies_1']],
  ['last event of a message', ['SELECT MAX(at) AS at, MAX(id) AS id FROM events WHERE message_id = ?'], ['events_message (message_id=?)']],
  // Reads by message (CLI, console).
  ["a message's recipients", ['SELECT * FROM recipients WHERE message_id = ? ORDER BY id'], ['recipients_message (message_id=?)']],
  ["a message's events", ['SELECT * FROM events WHERE message_id = ? ORDER BY id'], ['events_message (message_id=?)']],
  ["a message's attempts", ['SELECT a.* FROM recipients r JOIN attempts a'], ['recipients_message (message_id=?)', 'attempts_recipient (recipient_id=?)']],
  // Console.
  ['console: by recipient', ['WHERE r.address IN (@a, @b)'], ['recipients_address (address=?)']],
  ['console: by sender', ['WHERE sender = @s COLLATE NOCASE'], ['messages_sender (sender=?)']],
  ['console: by Message-ID', ['message_id_hdr IN (@q, @bracketed)'], ['messages_msgid_hdr (message_id_hdr=?)']],
  ['console: a destination’s pending recipients', ["WHERE r.status IN ('queued','deferred') AND r.domain = ?"], ['recipients_pending_dest (domain=?)']],
  ['console: queue summary from the index alone', ['FROM recipients INDEXED BY recipients_pending_dest WHERE status IN', 'GROUP BY domain'], ['SCAN recipients USING COVERING INDEX recipients_pending_dest']],
  ['console: latest reply of a destination', ['SELECT last_reply, updated_at FROM recipients INDEXED BY recipients_pending_dest'], ['recipients_pending_dest (domain=?)']],
  ['console: hourly series', ['FROM stats_hourly WHERE domain = @domain'], ['stats_hourly USING PRIMARY KEY (domain=? AND hour>? AND hour<?)']],
  ['console: top domains', ['INDEXED BY stats_hourly_hour'], ['stats_hourly_hour (hour>?)']],
  ['console: top categories', ['FROM stats_categories_hourly WHERE hour >= ?'], ['stats_categories_hourly USING PRIMARY KEY (hour>?)']],
  ['suppression drops of an address', ["WHERE e.type = 'dropped' AND e.recipient = ? COLLATE NOCASE"], ['events_dropped_recipient (recipient=?)']],
  // Metrics, `ferry stats` / `status`.
  ['queue depth', ["SELECT status, COUNT(*) AS n FROM recipients WHERE status IN ('queued','deferred') GROUP BY status"], ['COVERING INDEX recipients_pending_age']],
  ['oldest waiting', ['AND status = ? ORDER BY created_at LIMIT 1'], ['recipients_pending_age (status=?)']],
  ['recipients of a window', ['AS status, COUNT(*) AS n FROM messages m JOIN recipients r'], ['messages_created (created_at>?)', 'recipients_message (message_id=?)']],
  ['categories of a window', ["r.status IN ('bounced','expired','dropped') GROUP BY r.category"], ['messages_created (created_at>?)', 'recipients_message (message_id=?)']],
  ['attempts of a window', ['FROM attempts WHERE at >= ? GROUP BY result'], ['attempts_at (at>?)']],
  ['failing destinations', ['FROM attempts a JOIN recipients r ON r.id = a.recipient_id WHERE a.at >= ?'], ['attempts_at (at>?)', 'INTEGER PRIMARY KEY (rowid=?)']],
  ['messages of a window', ['SELECT COUNT(*) AS n FROM messages WHERE created_at >= ?'], ['messages_created (created_at>?)']],
  ['events since (count)', ['FROM events WHERE at >= ? AND id < ?'], ['events_at (at>?)']],
  ['spool files', ['FROM messages m WHERE m.spool_file IS NOT NULL'], ['messages_with_body']],
  // `ferry queue`.
  ['queue list of a destination', ['FROM recipients r INDEXED BY recipients_pending_dest'], ['recipients_pending_dest (domain=?)']],
  ['queue list of all', ["FROM recipients r WHERE r.status IN ('queued','deferred') GROUP BY"], ['recipients_pending_age (status=?)']],
  ['retry a destination', ['UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE domain = @domain'], ['recipients_pending_dest (domain=?)']],
  ['retry a message', ['UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE message_id = @messageId'], ['recipients_message (message_id=?)']],
  ['retry all', ['UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE 1 = 1'], ['recipients_pending_age (status=?)']],
  ['purge a destination', ["SELECT id FROM recipients WHERE domain = @domain AND status IN"], ['recipients_pending_dest (domain=?)']],
  ['purge a message', ["SELECT id FROM recipients WHERE message_id = @messageId AND status IN"], ['recipients_message (message_id=?)']],
  ['start-up: release this node’s leases', ['WHERE lease_owner = @owner AND status IN'], ['recipients_pending_age (status=?)']],
];

t.test('each query uses the index it was written for', async (t) => {
  for (const [what, fragments, expected] of PINS) {
    for (const plan of plansOf(t, ...fragments)) {
      for (const e of expected) t.ok(plan.includes(e), `${what}: ${e}`, { plan });
    }
  }
});

// Whole-table reads that are meant: each a listing newest first (id order) that stops at its
// LIMIT, or a pattern no index can serve.
const TABLE_SCANS_ALLOWED = [
  'SELECT * FROM events ORDER BY id', // the log, newest or oldest first
  'SELECT * FROM events WHERE at >= ? ORDER BY id', // newest first, stops at the page
  'FROM events e LEFT JOIN messages m ON m.id = e.message_id WHERE e.type = \'dropped\' AND e.recipient LIKE ?', // a domain's drops, newest first
  'FROM attempts a JOIN recipients r ON r.id = a.recipient_id WHERE r.domain = ? ORDER BY a.id DESC', // `ferry tls check`: latest attempts first
];

t.test('no other statement reads a whole hot table', async (t) => {
  for (const [sql, plan] of plans) {
    const scans = [...plan.matchAll(/\bSCAN (\w+)\b(?! USING)/g)].map((m) => m[1]!).filter((name) => !/^(CONSTANT|json_each|\d+)$/.test(name)); // a constant row, json_each, an n-ROW VALUES clause
    if (scans.length === 0 || TABLE_SCANS_ALLOWED.some((a) => sql.includes(a))) continue;
    t.fail(`a whole-table read: ${sql.slice(0, 160)}`, { plan });
  }
});

t.test('every index of the hot tables is used by some query (or a foreign key)', async (t) => {
  const indexes = db
    .prepare(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND tbl_name IN (${HOT.map(() => '?').join(',')})`)
    .all(...HOT) as { name: string; tbl_name: string }[];
  const used = [...plans.values()].join(' | ');
  t.ok(indexes.length >= 10, `${indexes.length} indexes`);
  for (const { name, tbl_name } of indexes) t.ok(used.includes(name), `${tbl_name}.${name} is used`);
  t.same(
    indexes.filter((i) => i.tbl_name !== 'stats_hourly' && !i.name.startsWith('sqlite_autoindex')).map((i) => i.name).sort(),
    [
      'attempts_at', 'attempts_recipient',
      'events_at', 'events_dropped_recipient', 'events_message',
      'messages_created', 'messages_msgid_hdr', 'messages_sender', 'messages_with_body',
      'recipients_address', 'recipients_due', 'recipients_message', 'recipients_pending_age', 'recipients_pending_dest',
    ],
    'the indexes the writer keeps up per message: adding one costs a page per commit (bench/writer-ops.mjs)',
  );
});
