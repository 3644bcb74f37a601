import t from 'tap';
import { FerryError } from '../../src/core/errors.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { fateFor } from '../helpers/fate.js';
import { accepted, testDb } from '../helpers/store.js';

function illegal(t: import('tap').Test, fn: () => void, what: string): void {
  try {
    fn();
    t.fail(`${what}: expected FERRY_ERR_ILLEGAL_TRANSITION`);
  } catch (err) {
    t.ok(err instanceof FerryError && err.code === 'FERRY_ERR_ILLEGAL_TRANSITION', `${what} throws FERRY_ERR_ILLEGAL_TRANSITION`);
  }
}

t.test('accept commits the message, its recipients and their events, together; a dropped one\'s event is its fate', async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  const { fate, writes } = fateFor(db, { clock: new ManualClock(0) });
  const m = accepted({ recipients: ['a@example.net', 'b@example.org'] });
  m.recipients[1] = { ...m.recipients[1]!, status: 'dropped', reason: 'on the suppression list', category: 'user_unknown' };
  db.transaction(() => {
    const drops = q.accept([m]);
    t.same(drops.map((d) => [d.recipient.address, d.reason, d.category]), [['b@example.org', 'on the suppression list', 'user_unknown']], 'accept returns the recipients born dropped');
    t.same(q.events.forMessage(m.message.id).map((e) => e.type), ['queued'], 'and leaves their event to the fate');
    writes.recordFatesNow(fate.plan(drops.map((d) => ({ origin: 'intake-drop' as const, recipient: d.recipient, facts: { reason: d.reason, category: d.category, suppressedAt: null } }))));
  })();
  const rows = q.recipients.forMessage(m.message.id);
  t.same(rows.map((r) => [r.address, r.status, r.attempts, r.nextAttemptAt]), [
    ['a@example.net', 'queued', 0, m.message.createdAt],
    ['b@example.org', 'dropped', 0, null],
  ]);
  t.equal(rows[1]!.lastReply, 'on the suppression list');
  const events = q.events.forMessage(m.message.id);
  t.same(events.map((e) => [e.recipient, e.type]), [['a@example.net', 'queued'], ['b@example.org', 'dropped']]);
  t.same(events[1]!.detail, { reason: 'on the suppression list' });
  t.same(q.messages.get(m.message.id)!.body, Buffer.from('body\r\n'));
});

t.test('a failing batch commits nothing of it', async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  const good = accepted();
  const dup = accepted({ id: good.message.id });
  t.throws(() => q.accept([good, dup]));
  t.equal(q.messages.get(good.message.id), undefined, 'the whole transaction rolled back');
  t.same(q.events.list({ limit: 10 }), []);
});

t.test('status transitions: legal moves apply, illegal ones throw and change nothing', async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  const m = accepted({ recipients: ['a@example.net', 'b@example.net', 'c@example.net'] });
  q.accept([m]);
  const [a, b, c] = q.recipients.forMessage(m.message.id);
  const at = m.message.createdAt + 1000;

  q.recipients.changeStatus(a!.id, { status: 'deferred', at, nextAttemptAt: at + 300_000, attempted: true, code: 451, enhanced: '4.7.1', reply: '451 4.7.1 greylisted', category: 'temporary' });
  let row = q.recipients.get(a!.id)!;
  t.same([row.status, row.attempts, row.nextAttemptAt, row.lastCode, row.lastEnhanced, row.category], ['deferred', 1, at + 300_000, 451, '4.7.1', 'temporary']);
  q.recipients.changeStatus(a!.id, { status: 'deferred', at: at + 1, nextAttemptAt: at + 900_000, attempted: true });
  row = q.recipients.get(a!.id)!;
  t.equal(row.attempts, 2, 'deferred → deferred counts the attempt');
  t.equal(row.lastReply, '451 4.7.1 greylisted', 'an unset reply keeps the last one');
  q.recipients.changeStatus(a!.id, { status: 'delivered', at: at + 2, nextAttemptAt: null, attempted: true, code: 250, reply: '250 ok', mxHost: 'mx.example.net', tlsProtocol: 'TLSv1.3' });
  row = q.recipients.get(a!.id)!;
  t.same([row.status, row.attempts, row.nextAttemptAt, row.mxHost, row.tlsProtocol], ['delivered', 3, null, 'mx.example.net', 'TLSv1.3']);

  illegal(t, () => q.recipients.changeStatus(a!.id, { status: 'deferred', at, nextAttemptAt: at, attempted: true }), 'delivered → deferred');
  illegal(t, () => q.recipients.changeStatus(a!.id, { status: 'queued', at, nextAttemptAt: at, attempted: false }), 'delivered → queued');
  t.equal(q.recipients.get(a!.id)!.status, 'delivered', 'unchanged after the refused move');
  q.recipients.changeStatus(a!.id, { status: 'bounced', at, nextAttemptAt: null, attempted: false, category: 'user_unknown' });
  t.equal(q.recipients.get(a!.id)!.status, 'bounced', 'delivered → bounced (a late bounce report) is legal');
  for (const to of ['delivered', 'deferred', 'expired', 'dropped', 'queued'] as const) {
    illegal(t, () => q.recipients.changeStatus(a!.id, { status: to, at, nextAttemptAt: null, attempted: false }), `bounced → ${to}`);
  }

  q.recipients.changeStatus(b!.id, { status: 'expired', at, nextAttemptAt: null, attempted: false });
  illegal(t, () => q.recipients.changeStatus(b!.id, { status: 'delivered', at, nextAttemptAt: null, attempted: true }), 'expired → delivered');
  q.recipients.changeStatus(c!.id, { status: 'dropped', at, nextAttemptAt: null, attempted: false });
  illegal(t, () => q.recipients.changeStatus(c!.id, { status: 'deferred', at, nextAttemptAt: at, attempted: false }), 'dropped → deferred');
  illegal(t, () => q.recipients.changeStatus(999_999, { status: 'delivered', at, nextAttemptAt: null, attempted: true }), 'an unknown recipient');
});

t.test('messages.list filters by status, recipient and time', async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  const old = accepted({ at: 1000, recipients: ['x@example.net'] });
  const recent = accepted({ at: 5000, recipients: ['Y@example.net'.toLowerCase(), 'z@example.net'] });
  q.accept([old, recent]);
  const [y] = q.recipients.forMessage(recent.message.id);
  q.recipients.changeStatus(y!.id, { status: 'bounced', at: 6000, nextAttemptAt: null, attempted: true });
  t.same(q.messages.list({ limit: 10 }).map((m) => m.id), [recent.message.id, old.message.id], 'newest first');
  t.same(q.messages.list({ limit: 10, status: 'bounced' }).map((m) => m.id), [recent.message.id]);
  t.same(q.messages.list({ limit: 10, recipient: 'X@example.net' }).map((m) => m.id), [old.message.id]);
  t.same(q.messages.list({ limit: 10, since: 2000 }).map((m) => m.id), [recent.message.id]);
  t.same(q.messages.list({ limit: 1 }).length, 1);
});
