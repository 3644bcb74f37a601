import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { fateFor } from '../helpers/fate.js';
import { accepted, testDb } from '../helpers/store.js';

/**
 * A "mailbox full" run that persists suppresses the address; the run is read from the store
 * (attempts.streakSince, asynchronous) before outcome/fate plans, so a mailbox that was full
 * once long ago and again now is not taken for one full all along.
 */
const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const retry = { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 200, mailboxFullSuppressAfterHours: 72 };
const ctx = { startedAt: T0, durationMs: 5, hop: { host: 'mx.example.net', ip: '127.0.0.2', port: 25, tls: null }, hops: null };
const full = { kind: 'failed' as const, phase: 'rcpt' as const, reply: { code: 452, enhanced: '4.2.2', text: '452 4.2.2 mailbox full' } };
const greylisted = { kind: 'failed' as const, phase: 'rcpt' as const, reply: { code: 451, enhanced: '4.7.1', text: '451 4.7.1 greylisted, try again later' } };

t.test('a full-mailbox run older than the threshold suppresses; a recent run after other failures does not', async (t) => {
  const { db } = testDb(t);
  const queue = createQueueStore(db);
  const clock = new ManualClock(T0);
  const m = accepted({ at: T0, recipients: ['long@example.net', 'recent@example.net'] });
  queue.accept([m]);
  const { outcome } = fateFor(db, { clock, retry });
  const attempt = async (address: string, fact: typeof full) => {
    const r = queue.recipients.forMessage(m.message.id).find((x) => x.address === address)!;
    return outcome.applySoon([{ recipient: r, firstQueuedAt: T0, fact }], { ...ctx, startedAt: clock.now() });
  };
  await attempt('long@example.net', full);
  await attempt('recent@example.net', greylisted);
  clock.advance(79 * H);
  await attempt('recent@example.net', full);
  clock.advance(1 * H);
  const [long] = await attempt('long@example.net', full);
  const [recent] = await attempt('recent@example.net', full);
  t.equal(long!.decision.classification?.category, 'mailbox_full');
  t.equal(long!.decision.suppress, true, 'full for 80 hours: suppressed');
  t.equal(recent!.decision.classification?.category, 'mailbox_full');
  t.equal(recent!.decision.suppress, false, 'full for 1 hour (greylisted before): not suppressed');
  const repo = createSuppressionsRepo(db);
  t.ok(repo.get('long@example.net', null), 'the suppression entry is written');
  t.notOk(repo.get('recent@example.net', null));
});
