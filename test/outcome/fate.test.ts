import t, { type Test } from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import { FATE_ORIGINS, type FateOrigin } from '../../src/core/fate.js';
import { FINAL_STATUSES, type RecipientStatus } from '../../src/core/types.js';
import type { AttemptFact } from '../../src/outcome/decide.js';
import type { AppliedFate, FateInput } from '../../src/outcome/fate.js';
import { LEGAL_FROM } from '../../src/outcome/fate-legality.js';
import { createAttemptsRepo } from '../../src/store/attempts-repo.js';
import { createDsnOutboxRepo } from '../../src/store/dsn-outbox-repo.js';
import { createQueueStore, type AcceptedMessage } from '../../src/store/queue-store.js';
import type { RecipientRow } from '../../src/store/recipients-repo.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { acceptWithFates, fateFor } from '../helpers/fate.js';
import { testDb } from '../helpers/store.js';

/**
 * outcome/fate, one subtest per origin, against a real SQLite database: what each writes
 * (status, event with type and category, attempt row, suppression, DSN outbox line) as
 * DESIGN.md says; then the legality table as a property over random sequences of fates.
 */

const T0 = Date.UTC(2026, 11, 1, 12);
const HOUR = 3_600_000;
const ctx = { startedAt: T0, durationMs: 7, hop: { host: 'mx.dest.test', ip: '127.0.0.2', port: 25, tls: null }, hops: null };
const USER_UNKNOWN: AttemptFact = { kind: 'failed', phase: 'rcpt', reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 <x@dest.test>: no such user' } };
const LATER: AttemptFact = { kind: 'failed', phase: 'rcpt', reply: { code: 451, enhanced: '4.3.0', text: '451 4.3.0 try again later' } };
const DELIVERED: AttemptFact = { kind: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: '250 2.0.0 ok' } };

function setup(t: Test) {
  const { db } = testDb(t);
  const clock = new ManualClock(T0);
  const queue = createQueueStore(db);
  const commits: AppliedFate[][] = [];
  const { fate, writes, outcome } = fateFor(db, { clock, dsn: { onDropped: true }, afterCommit: (a) => commits.push(a) });
  const attempts = createAttemptsRepo(db);
  const suppressions = createSuppressionsRepo(db);
  const outbox = createDsnOutboxRepo<Record<string, unknown>>(db);
  let n = 0;
  function message(to: string[], opts: { createdAt?: number; dropped?: boolean; user?: string | null } = {}): AcceptedMessage {
    const id = `M${++n}`;
    const headers = Buffer.from('Subject: x\r\n\r\n');
    return {
      message: {
        id, createdAt: opts.createdAt ?? T0, sender: 'app@sender.test', username: opts.user ?? null, clientIp: null, helo: null, tls: null,
        size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: 'x',
        eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: to.map((address) => ({
        address, domain: address.split('@')[1]!,
        ...(opts.dropped ? { status: 'dropped' as const, reason: 'on the suppression list', category: 'user_unknown' } : { status: 'queued' as const, reason: null, category: null }),
      })),
    };
  }
  function enqueue(to: string, opts: { createdAt?: number; user?: string | null } = {}): RecipientRow {
    const m = message([to], opts);
    queue.accept([m]);
    return queue.recipients.forMessage(m.message.id)[0]!;
  }
  const row = (r: { id: number }) => queue.recipients.get(r.id)!;
  const events = (r: RecipientRow) => queue.events.forMessage(r.messageId).filter((e) => e.recipientId === r.id && e.type !== 'queued');
  const outboxFor = (r: RecipientRow) => outbox.list(0, 100).filter((o) => o.messageId === r.messageId).flatMap((o) => o.recipients);
  async function attempt(r: RecipientRow, fact: AttemptFact) {
    return outcome.applySoon([{ recipient: row(r), fact, firstQueuedAt: r.createdAt }], ctx);
  }
  return { db, clock, queue, fate, writes, commits, attempts, suppressions, outbox, message, enqueue, row, events, outboxFor, attempt };
}

t.test('attempt: status, attempt row, event with category, suppression, DSN line — each as its verdict says', async (t) => {
  const s = setup(t);
  const bad = s.enqueue('nobody@dest.test');
  const slow = s.enqueue('slow@dest.test');
  const good = s.enqueue('fine@dest.test');
  await Promise.all([s.attempt(bad, USER_UNKNOWN), s.attempt(slow, LATER), s.attempt(good, DELIVERED)]);
  t.equal(s.commits.length, 1, 'three attempts in one turn: one commit, one hook');
  t.same(s.commits[0]!.map((a) => [a.origin, a.recipient.address, a.decision.status]), [
    ['attempt', 'nobody@dest.test', 'bounced'], ['attempt', 'slow@dest.test', 'deferred'], ['attempt', 'fine@dest.test', 'delivered'],
  ]);

  t.match(s.row(bad), { status: 'bounced', attempts: 1, category: 'user_unknown', lastCode: 550, mxHost: 'mx.dest.test', nextAttemptAt: null });
  t.match(s.events(bad).map((e) => [e.type, e.category]), [['bounced', 'user_unknown']]);
  t.match(s.attempts.forMessage(bad.messageId), [{ result: 'bounced', category: 'user_unknown', code: 550, mxHost: 'mx.dest.test' }]);
  t.match(s.suppressions.get('nobody@dest.test', null), { category: 'user_unknown', source: 'bounce', reason: /no such user/ });
  t.match(s.outboxFor(bad), [{ address: 'nobody@dest.test', kind: 'bounced', category: 'user_unknown', code: 550, remoteMta: 'mx.dest.test' }]);

  t.match(s.row(slow), { status: 'deferred', attempts: 1, category: 'temporary' });
  t.ok(s.row(slow).nextAttemptAt! > T0, 'tried again later');
  t.match(s.events(slow).map((e) => [e.type, e.category]), [['deferred', 'temporary']]);
  t.equal(s.attempts.forMessage(slow.messageId).length, 1);
  t.equal(s.suppressions.get('slow@dest.test', null), undefined, 'a temporary failure suppresses nothing');
  t.same(s.outboxFor(slow), [], 'no report for a deferral (no NOTIFY=DELAY)');

  t.match(s.row(good), { status: 'delivered', attempts: 1, category: null, lastCode: 250 });
  t.match(s.events(good).map((e) => [e.type, e.category]), [['delivered', null]]);
  t.equal(s.attempts.forMessage(good.messageId).length, 1);
  t.same(s.outboxFor(good), [], 'no report for a delivery (no NOTIFY=SUCCESS)');
});

t.test('async-bounce: a late bounce turns delivered into bounced; event, suppression, DSN; no attempt row', async (t) => {
  const s = setup(t);
  const r = s.enqueue('gone@dest.test');
  await s.attempt(r, DELIVERED);
  s.clock.advance(HOUR);
  const [res] = await s.fate.record([
    { origin: 'async-bounce', recipient: s.row(r), facts: { reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 user unknown' }, remoteMta: 'mx.dest.test', reportingMta: 'relay.dest.test' } },
  ]);
  t.equal(res!.applied, true);
  t.equal(res!.previousStatus, 'delivered');
  t.match(s.row(r), { status: 'bounced', attempts: 1, category: 'user_unknown', lastCode: 550 });
  t.match(s.events(r).map((e) => [e.type, e.category, e.detail]), [
    ['delivered', null, {}],
    ['bounced', 'user_unknown', { async: true, previousStatus: 'delivered', reportingMta: 'relay.dest.test', remoteMta: 'mx.dest.test' }],
  ]);
  t.equal(s.attempts.forMessage(r.messageId).length, 1, 'only the delivery attempt: a report is not an attempt');
  t.match(s.suppressions.get('gone@dest.test', null), { category: 'user_unknown', source: 'bounce' });
  t.match(s.outboxFor(r), [{ address: 'gone@dest.test', kind: 'bounced', category: 'user_unknown', remoteMta: 'mx.dest.test' }]);

  const [again] = await s.fate.record([
    { origin: 'async-bounce', recipient: s.row(r), facts: { reply: { code: 550, enhanced: '5.1.1', text: '550 again' }, remoteMta: null, reportingMta: null } },
  ]);
  t.equal(again!.applied, false, 'a second report about a bounced recipient writes nothing');
  t.equal(s.events(r).length, 2);
  t.equal(s.outboxFor(r).length, 1);
});

t.test('complaint: marked spam, status unchanged, complaint event, suppression scoped to the sender user; no DSN, no attempt', async (t) => {
  const s = setup(t);
  const r = s.enqueue('jane@dest.test', { user: 'billing' });
  await s.attempt(r, DELIVERED);
  await s.fate.record([
    { origin: 'complaint', recipient: s.row(r), facts: { feedbackType: 'abuse', userAgent: 'FBL/1.0', reportingMta: 'fbl.dest.test', sourceIp: '192.0.2.1', user: 'billing' } },
  ]);
  const after = s.row(r);
  t.equal(after.status, 'delivered', 'a complaint does not change the delivery status');
  t.equal(after.complainedAt, T0, 'shown as spam from now on');
  t.match(s.events(r).map((e) => [e.type, e.status, e.category]), [['delivered', 'delivered', null], ['complaint', 'delivered', 'complaint']]);
  t.equal(s.attempts.forMessage(r.messageId).length, 1);
  t.match(s.suppressions.get('jane@dest.test', 'billing'), { category: 'complaint', source: 'complaint', reason: 'abuse report from fbl.dest.test' });
  t.equal(s.suppressions.get('jane@dest.test', null), undefined, 'not global');
  t.same(s.outboxFor(r), []);
});

t.test('lost-body: pending recipients expire (category other), the message forgets its body, the sender is told', async (t) => {
  const s = setup(t);
  const r = s.enqueue('a@dest.test');
  await s.fate.record([{ origin: 'lost-body', recipient: s.row(r), facts: { reason: 'spool file missing: the message body was lost' } }]);
  t.match(s.row(r), { status: 'expired', attempts: 0, category: 'other', lastReply: 'spool file missing: the message body was lost' });
  t.match(s.events(r).map((e) => [e.type, e.category, e.detail]), [['expired', 'other', { reason: 'spool file missing: the message body was lost' }]]);
  t.equal(s.attempts.forMessage(r.messageId).length, 0);
  t.same(s.suppressions.forAddress('a@dest.test'), []);
  t.match(s.outboxFor(r), [{ kind: 'expired', category: 'other', bodyLost: true }]);
  t.equal(s.db.prepare('SELECT body_lost_at FROM messages WHERE id = ?').pluck().get(r.messageId), T0, 'recorded on the message');
});

t.test('admin-purge: expired with the admin\'s reason, an event with the last category, a DSN like an expiry', async (t) => {
  const s = setup(t);
  const r = s.enqueue('slow@dest.test');
  await s.attempt(r, LATER);
  s.clock.advance(HOUR);
  await s.fate.record([{ origin: 'admin-purge', recipient: s.row(r), facts: { reason: 'purged by admin' } }]);
  t.match(s.row(r), { status: 'expired', attempts: 1, lastReply: 'purged by admin', nextAttemptAt: null });
  t.match(s.events(r).map((e) => [e.type, e.category, e.detail]), [['deferred', 'temporary', {}], ['expired', 'temporary', { reason: 'purged by admin' }]]);
  t.equal(s.attempts.forMessage(r.messageId).length, 1, 'a purge is not an attempt');
  t.same(s.suppressions.forAddress('slow@dest.test'), []);
  t.match(s.outboxFor(r), [{ kind: 'expired', purged: true, reply: '451 4.3.0 try again later', lastAttemptAt: T0 }]);
});

t.test('intake-drop: born dropped; its fate is the dropped event (category) and, when configured, a DSN', async (t) => {
  const s = setup(t);
  const m = s.message(['blocked@dest.test'], { dropped: true });
  acceptWithFates(s.db, [m], { onDropped: true });
  const [r] = s.queue.recipients.forMessage(m.message.id);
  t.match(r, { status: 'dropped', attempts: 0, nextAttemptAt: null });
  t.match(s.events(r!).map((e) => [e.type, e.category, e.detail, e.at]), [['dropped', 'user_unknown', { reason: 'on the suppression list' }, T0]]);
  t.equal(s.attempts.forMessage(m.message.id).length, 0);
  t.match(s.outboxFor(r!), [{ kind: 'dropped', category: 'user_unknown', reply: 'on the suppression list' }]);

  const quiet = s.message(['other@dest.test'], { dropped: true });
  acceptWithFates(s.db, [quiet], null);
  t.same(s.outboxFor(s.queue.recipients.forMessage(quiet.message.id)[0]!), [], 'no report unless dsn.onDropped');
});

t.test('expiry: past the maximum age, expired keeping its last reply; not while a worker holds it', async (t) => {
  const s = setup(t);
  const r = s.enqueue('late@dest.test', { createdAt: T0 - 70 * HOUR });
  await s.attempt(r, LATER);
  const held = s.enqueue('held@dest.test', { createdAt: T0 - 70 * HOUR });
  s.clock.advance(3 * HOUR);
  s.queue.recipients.claim(s.clock.now(), s.clock.now() + 10 * 60_000, 'node', 10);
  s.queue.recipients.release(r.id, s.clock.now() + HOUR);
  const reason = 'not delivered within 72 hours (delivery.maxAgeHours)';
  const results = await s.fate.record([
    { origin: 'expiry', recipient: s.row(r), facts: { reason } },
    { origin: 'expiry', recipient: s.row(held), facts: { reason } },
  ]);
  t.same(results.map((x) => x.applied), [true, false], 'the one in flight is left to its attempt');
  t.match(s.row(r), { status: 'expired', lastReply: '451 4.3.0 try again later', category: 'temporary' });
  t.match(s.events(r).map((e) => [e.type, e.category, e.detail]), [['deferred', 'temporary', {}], ['expired', 'temporary', { reason }]]);
  t.equal(s.attempts.forMessage(r.messageId).length, 1);
  t.match(s.outboxFor(r), [{ kind: 'expired', category: 'temporary', code: 451, remoteMta: 'mx.dest.test' }]);
  t.equal(s.row(held).status, 'queued');
  t.same(s.events(held), []);
});

t.test('one DSN outbox row per message, however many of its recipients are reported in one commit', async (t) => {
  const s = setup(t);
  const m = s.message(['a@dest.test', 'b@dest.test']);
  s.queue.accept([m]);
  const rows = s.queue.recipients.forMessage(m.message.id);
  await s.fate.record(rows.map((recipient) => ({ origin: 'admin-purge', recipient, facts: { reason: 'purged by admin' } })));
  const lines = s.outbox.list(0, 10);
  t.equal(lines.length, 1);
  t.same(lines[0]!.recipients.map((r) => r.address), ['a@dest.test', 'b@dest.test']);
});

/**
 * The legality table as a property: whatever sequence of fates befalls a recipient, and however
 * stale the row a caller holds, a final status never changes — except a late asynchronous bounce
 * (delivered → bounced); a complaint never changes the status (it marks it spam); and a refused
 * fate writes nothing at all.
 */
t.test('legality: a final status never changes except delivered → bounced by an async bounce', async (t) => {
  const s = setup(t);
  const origin = fc.constantFrom<FateOrigin>(...FATE_ORIGINS);
  const step = fc.record({ origin, stale: fc.boolean(), fact: fc.constantFrom(DELIVERED, LATER, USER_UNKNOWN) });
  let checked = 0;
  const start = fc.constantFrom<RecipientStatus>('queued', 'deferred', 'delivered', 'bounced', 'expired', 'dropped');
  await fc.assert(
    fc.asyncProperty(start, fc.array(step, { minLength: 1, maxLength: 6 }), async (initial, steps) => {
      const m = s.message([`p${checked++}@dest.test`], { dropped: initial === 'dropped' });
      s.queue.accept([m]);
      const first = s.queue.recipients.forMessage(m.message.id)[0]!;
      // The starting status is set up directly (not a fate under test).
      if (initial !== 'queued' && initial !== 'dropped') s.queue.recipients.changeStatus(first.id, { status: initial, at: T0, nextAttemptAt: null, attempted: false });
      for (const st of steps) {
        const before = s.row(first);
        const held = st.stale ? first : before;
        const eventsBefore = s.events(first).length;
        const input = inputFor(st.origin, held, st.fact);
        const [res] = await s.fate.record([input]);
        const after = s.row(first);
        t.equal(res!.applied, LEGAL_FROM[st.origin].includes(before.status) && (st.origin !== 'expiry' || (before.leaseUntil ?? 0) <= s.clock.now()), 'applied exactly when the table allows it');
        if (!res!.applied) {
          t.same(after, before, `${st.origin} refused on ${before.status}: nothing written`);
          t.equal(s.events(first).length, eventsBefore);
          continue;
        }
        t.equal(s.events(first).length, eventsBefore + 1, 'one event per fate');
        if (FINAL_STATUSES.has(before.status) && after.status !== before.status) {
          t.same([before.status, st.origin, after.status], ['delivered', 'async-bounce', 'bounced'], 'the only move out of a final status');
        }
        if (st.origin === 'complaint') {
          t.equal(after.status, before.status, 'a complaint does not change the status');
          t.ok(after.complainedAt !== null, 'it marks the recipient spam');
        }
      }
      return true;
    }),
    { numRuns: 200, seed: 13 },
  );
});

t.test('legality table, every origin on every status: what DESIGN.md allows, and nothing else', async (t) => {
  const s = setup(t);
  const statuses: RecipientStatus[] = ['queued', 'deferred', 'delivered', 'bounced', 'expired', 'dropped'];
  // The specification, written out: a final status moves only delivered → bounced (async bounce);
  // a complaint needs a recipient that was sent to; an intake drop is for one born dropped.
  const allowed: Record<FateOrigin, RecipientStatus[]> = {
    attempt: ['queued', 'deferred'],
    'async-bounce': ['queued', 'deferred', 'delivered'],
    complaint: ['queued', 'deferred', 'delivered', 'bounced', 'expired'],
    'lost-body': ['queued', 'deferred'],
    'admin-purge': ['queued', 'deferred'],
    expiry: ['queued', 'deferred'],
    'intake-drop': ['dropped'],
  };
  let n = 0;
  for (const origin of FATE_ORIGINS) {
    for (const status of statuses) {
      const m = s.message([`t${n++}@dest.test`], { dropped: status === 'dropped' });
      s.queue.accept([m]);
      const r = s.queue.recipients.forMessage(m.message.id)[0]!;
      if (status !== 'queued' && status !== 'dropped') s.queue.recipients.changeStatus(r.id, { status, at: T0, nextAttemptAt: null, attempted: false });
      const [res] = await s.fate.record([inputFor(origin, s.row(r), DELIVERED)]);
      t.equal(res!.applied, allowed[origin].includes(status), `${origin} on ${status}`);
    }
  }
});

function inputFor(origin: FateOrigin, recipient: RecipientRow, fact: AttemptFact): FateInput {
  switch (origin) {
    case 'attempt':
      return { origin, recipient, facts: { fact, firstQueuedAt: recipient.createdAt, ctx } };
    case 'async-bounce':
      return { origin, recipient, facts: { reply: { code: 550, enhanced: '5.1.1', text: '550 5.1.1 no such user' }, remoteMta: null, reportingMta: null } };
    case 'complaint':
      return { origin, recipient, facts: { feedbackType: 'abuse', userAgent: null, reportingMta: null, sourceIp: null, user: null } };
    case 'intake-drop':
      return { origin, recipient, facts: { reason: 'on the suppression list', category: 'user_unknown', suppressedAt: null } };
    case 'lost-body':
    case 'admin-purge':
    case 'expiry':
      return { origin, recipient, facts: { reason: origin } };
  }
}
