import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { AppliedDecision } from '../../src/outcome/apply.js';
import { createAttemptsRepo } from '../../src/store/attempts-repo.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore, type QueueStore } from '../../src/store/queue-store.js';
import { countingDb } from '../helpers/counting-db.js';
import { fateFor } from '../helpers/fate.js';

const T0 = Date.UTC(2026, 0, 1);
const retry = { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 72 };

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-apply-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const queue = createQueueStore(db);
  const clock = new ManualClock(T0);
  const { db: counting, transactions } = countingDb(db);
  const seen: AppliedDecision[][] = [];
  const { outcome } = fateFor(counting, { clock, retry, afterCommit: (a) => seen.push(a) });
  return { db, queue, clock, outcome, seen, transactions };
}

let seq = 0;
function enqueue(q: QueueStore, to: string[]): string {
  const id = `M${++seq}`;
  const headers = Buffer.from('Subject: x\r\n\r\n');
  q.accept([{
    message: { id, createdAt: T0, sender: 's@ferry.test', username: null, clientIp: null, helo: null, tls: null, size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
    recipients: to.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
  }]);
  return id;
}

const ctx = { startedAt: T0, durationMs: 12, hop: { host: 'mx.example.test', ip: '127.0.0.2', port: 25, tls: null }, hops: [{ host: 'mx.example.test', result: 'connected' }] };

t.test('attempts finishing in the same turn share one transaction; each gets its own result', async (t) => {
  const { queue, outcome, seen, transactions } = setup(t);
  const ids = Array.from({ length: 20 }, (_, i) => enqueue(queue, [`r${i}@example.test`]));
  const claimed = queue.recipients.claim(T0, T0 + 60_000, 'node', 100);
  const before = transactions();
  const results = await Promise.all(
    claimed.map((r, i) =>
      outcome.applySoon(
        [{ recipient: r, firstQueuedAt: T0, fact: i % 2 ? { kind: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: '250 2.0.0 ok' } } : { kind: 'failed', phase: 'message', reply: { code: 451, enhanced: '4.3.0', text: '451 4.3.0 later' } } }],
        ctx,
      ),
    ),
  );
  t.equal(transactions() - before, 1, '20 attempts, one commit');
  t.same(results.map((r) => r[0]!.decision.status), claimed.map((_, i) => (i % 2 ? 'delivered' : 'deferred')));
  t.equal(seen.length, 1, 'the after-commit hook runs once for the commit');
  t.equal(seen[0]!.length, 20, 'with every fate of it');
  for (const [i, id] of ids.entries()) {
    const [r] = queue.recipients.forMessage(id);
    t.equal(r!.status, i % 2 ? 'delivered' : 'deferred');
    t.equal(r!.leaseUntil, null);
  }
});

t.test('a recipient purged while in flight stays purged; the others are recorded', async (t) => {
  const { db, queue, clock, outcome } = setup(t);
  const id = enqueue(queue, ['a@example.test', 'b@example.test']);
  const [a, b] = queue.recipients.claim(T0, T0 + 60_000, 'node', 10);
  // the admin ends b (as `ferry queue purge` does) while the attempt is under way
  queue.recipients.changeStatus(b!.id, { status: 'expired', at: clock.now(), nextAttemptAt: null, attempted: false, reply: 'purged by admin' });
  const applied = await outcome.applySoon(
    [a!, b!].map((r) => ({ recipient: r, firstQueuedAt: T0, fact: { kind: 'delivered' as const, reply: { code: 250, enhanced: null, text: '250 ok' } } })),
    ctx,
  );
  t.same(applied.map((x) => x.recipient.address), ['a@example.test']);
  const rows = queue.recipients.forMessage(id);
  t.same(rows.map((r) => r.status), ['delivered', 'expired']);
  t.equal(rows[1]!.lastReply, 'purged by admin');
  t.same(createAttemptsRepo(db).forMessage(id).map((x) => x.recipientId), [a!.id], 'no attempt row for the purged one');
});

t.test('an attempt on its own commits on its own', async (t) => {
  const { queue, outcome, transactions } = setup(t);
  const id = enqueue(queue, ['c@example.test']);
  const [c] = queue.recipients.claim(T0, T0 + 60_000, 'node', 10);
  const before = transactions();
  const applied = await outcome.applySoon([{ recipient: c!, firstQueuedAt: T0, fact: { kind: 'failed', phase: 'rcpt', reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 no such user' } } }], ctx);
  t.equal(transactions() - before, 1);
  t.equal(applied[0]!.decision.status, 'bounced');
  t.equal(queue.recipients.forMessage(id)[0]!.category, 'user_unknown');
});
