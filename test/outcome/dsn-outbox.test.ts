import t, { type Test } from 'tap';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRandom } from '../../src/core/random.js';
import { createDsnNotifier } from '../../src/outcome/dsn.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createQueueStore, type QueueStore } from '../../src/store/queue-store.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { fateFor } from '../helpers/fate.js';
import { tempDir } from '../helpers/relay.js';

/**
 * The DSN outbox: the report a bounce makes due commits with the bounce, and is queued exactly
 * once — even when the process dies between the outcome's commit and the DSN's.
 */
const T0 = Date.UTC(2026, 10, 27, 12);
const retry = { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 72 };
const ctx = { startedAt: T0, durationMs: 5, hop: { host: 'mx.example.net', ip: '127.0.0.2', port: 25, tls: null }, hops: null };

function open(file: string) {
  const db = openDatabase({ file });
  const queue = createQueueStore(db);
  const clock = new ManualClock(T0);
  let n = 0;
  const queued: string[] = [];
  const dsn = createDsnNotifier({
    store: createInProcessSqliteStore(db), hostname: 'ferry.test', clock, random: seededRandom(7), newId: () => `DSN${++n}-${file.length}`, logger: silentLogger(),
    config: { onDropped: true }, maxAgeHours: 72, onQueued: (id) => queued.push(id),
  });
  const { outcome } = fateFor(db, { clock, retry, dsn: { onDropped: true } });
  return { db, queue, dsn, outcome, queued };
}

function enqueue(q: QueueStore, id: string, sender: string, to: string[], kind: 'submission' | 'dsn' = 'submission'): void {
  const headers = Buffer.from('Subject: Invoice\r\nMessage-ID: <inv@sender.test>\r\n\r\n');
  q.accept([{
    message: { id, createdAt: T0, sender, username: null, clientIp: null, helo: null, tls: null, size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null, messageIdHeader: '<inv@sender.test>', subject: 'Invoice', eightBit: false, smtputf8: false, kind },
    recipients: to.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
  }]);
}

function dsnMessages(db: Db): { id: string }[] {
  return db.prepare("SELECT id FROM messages WHERE kind = 'dsn' ORDER BY id").all() as { id: string }[];
}

function bounce(a: ReturnType<typeof open>, id: string) {
  const rows = a.queue.recipients.forMessage(id);
  return a.outcome.applySoon(
    rows.map((r) => ({ recipient: r, firstQueuedAt: T0, fact: { kind: 'failed' as const, phase: 'rcpt' as const, reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 no such user' } } })),
    ctx,
  );
}

function file(t: Test): string {
  return join(tempDir(t), 'ferry.db');
}

t.test('a crash after the bounce committed and before the DSN did: the next start queues the DSN, once', async (t) => {
  const f = file(t);
  const first = open(f);
  enqueue(first.queue, 'M1', 'app@sender.test', ['a@example.net', 'b@example.net']);
  await bounce(first, 'M1');
  t.same(first.queue.recipients.forMessage('M1').map((r) => r.status), ['bounced', 'bounced']);
  t.equal((await first.dsn.pending()), 1, 'the due report committed with the bounce');
  t.same(dsnMessages(first.db), [], 'and no DSN yet: the process dies here');
  first.db.close();

  const second = open(f);
  t.teardown(() => second.db.close());
  const ids = (await second.dsn.flush());
  t.equal(ids.length, 1, 'the restart queues it');
  t.equal((await second.dsn.pending()), 0, 'and the outbox row went with it');
  t.same(second.queued, ids, 'the scheduler is told');
  const rcpt = second.queue.recipients.forMessage(ids[0]!);
  t.same(rcpt.map((r) => [r.address, r.status]), [['app@sender.test', 'queued']], 'to the envelope sender');
  const m = second.queue.messages.get(ids[0]!)!;
  t.equal(m.sender, '', 'with a null sender');
  t.match(m.body?.toString() ?? '', /<a@example\.net>[\s\S]*<b@example\.net>/, 'one report for both recipients');
  t.same((await second.dsn.flush()), [], 'a second flush queues nothing more');
  t.equal(dsnMessages(second.db).length, 1);
});

t.test('no DSN about a DSN or to a null sender: the due row is cleared without queueing', async (t) => {
  const a = open(file(t));
  t.teardown(() => a.db.close());
  enqueue(a.queue, 'D1', '', ['app@sender.test'], 'dsn');
  enqueue(a.queue, 'N1', '', ['x@example.net']);
  await bounce(a, 'D1');
  await bounce(a, 'N1');
  t.equal((await a.dsn.pending()), 2);
  t.same((await a.dsn.flush()), []);
  t.equal((await a.dsn.pending()), 0);
  t.same(dsnMessages(a.db).map((r) => r.id), ['D1'], 'only the original DSN message exists');
});

t.test('a report that cannot be composed stays in the outbox for the next start and does not block the others', async (t) => {
  const f = file(t);
  const a = open(f);
  enqueue(a.queue, 'M1', 'app@sender.test', ['a@example.net']);
  enqueue(a.queue, 'M2', 'app@sender.test', ['b@example.net']);
  await bounce(a, 'M1');
  await bounce(a, 'M2');
  // A corrupt row: its recipients are not a list.
  a.db.prepare("UPDATE dsn_outbox SET recipients = '{}' WHERE message_id = 'M1'").run();
  const ids = (await a.dsn.flush());
  t.equal(ids.length, 1, 'the good one is queued');
  t.equal((await a.dsn.pending()), 1, 'the bad one is kept');
  t.same((await a.dsn.flush()), [], 'and not retried in a loop by this process');
  a.db.close();
});
