import type { Test } from 'tap';
import type { EngineFactory } from './engines.js';
import { message } from './fixtures.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { Store } from '../../../src/core/store.js';
import type { AuditActor } from '../../../src/core/store-audited.js';
import type { NewSuppression } from '../../../src/core/store-types.js';
import { createFate } from '../../../src/outcome/fate.js';
import { purgeInputs } from '../../../src/outcome/purge.js';
import { createClassifier } from '../../../src/classify/classifier.js';
import { seededRandom } from '../../../src/core/random.js';
import { silentLogger } from '../../../src/core/logger.js';
import { RETRY } from '../../helpers/fate.js';

const T0 = 1_760_000_000_000;
const ADA: AuditActor = { name: 'ada', role: 'admin', via: 'console', at: T0 };

/** The events of one type, oldest first. */
async function events(s: Store, type: string) {
  return s.events.list({ type, limit: 100 });
}

function entry(address: string, over: Partial<NewSuppression> = {}): NewSuppression {
  const at = address.indexOf('@');
  return { address, domain: address.slice(at + 1), category: 'manual', reason: 'asked to stop', source: 'manual', scope: null, createdAt: T0, expiresAt: null, ...over };
}

/**
 * The `audited` group (core/store-audited.ts): each change and the event naming its admin commit
 * together, or neither does; the events read the same on every engine (src/store/audit-rows.ts).
 */
export const AUDITED_CONTRACT: Record<string, (t: Test, engine: EngineFactory) => Promise<void>> = {
  async audited(t, engine) {
    await t.test('suppressions: add, remove by id, clear; each with its event', async (t) => {
      const s = await engine.open(t);
      const added = await s.audited.addSuppression(entry('bob@dest.test', { expiresAt: T0 + 1000 }), ADA);
      t.equal(added.created, true);
      t.match(await s.suppressions.get('bob@dest.test', null), { category: 'manual', reason: 'asked to stop', expiresAt: T0 + 1000 });
      const again = await s.audited.addSuppression(entry('bob@dest.test', { reason: 'asked twice' }), { ...ADA, at: T0 + 1 });
      t.equal(again.created, false);
      t.same(
        (await events(s, 'suppression_added')).map((e) => [e.at, e.messageId, e.recipientId, e.recipient, e.status, e.category, e.detail]),
        [
          [T0, '', null, 'bob@dest.test', null, 'manual', { reply: 'added to the suppression list by ada: asked to stop', admin: 'ada', role: 'admin', via: 'console', expiresAt: T0 + 1000 }],
          [T0 + 1, '', null, 'bob@dest.test', null, 'manual', { reply: 'updated on the suppression list by ada: asked twice', admin: 'ada', role: 'admin', via: 'console', expiresAt: null }],
        ],
      );

      const removed = await s.audited.removeSuppression(added.row.id, { ...ADA, name: 'sam', role: 'support' });
      t.match(removed, { id: added.row.id, address: 'bob@dest.test' });
      t.equal(await s.suppressions.get('bob@dest.test', null), undefined, 'removed');
      t.equal(await s.suppressionLookup.lookup('bob@dest.test', 'dest.test', null, T0), undefined, 'and the RCPT-time read no longer finds it');
      t.match(await events(s, 'suppression_removed'), [
        { recipient: 'bob@dest.test', category: 'manual', detail: { reply: 'removed from the suppression list by sam', admin: 'sam', role: 'support', scope: null, reason: 'asked twice', source: 'manual', addedAt: new Date(T0).toISOString() } },
      ]);
      t.equal(await s.audited.removeSuppression(added.row.id, ADA), null, 'an entry already gone: null');
      t.equal((await events(s, 'suppression_removed')).length, 1, 'and no event');

      for (let i = 0; i < 3; i++) await s.suppressions.upsert(entry(`u${i}@big.test`, { category: 'user_unknown' }));
      await s.suppressions.upsert(entry('keep@other.test', { category: 'user_unknown' }));
      t.equal(await s.audited.clearSuppressions({ domain: 'big.test' }, ADA), 3);
      t.equal(await s.suppressions.count(), 1, 'only the filter');
      t.equal(await s.audited.clearSuppressions({ category: 'complaint' }, ADA), 0);
      t.match(await events(s, 'suppressions_cleared'), [
        { recipient: '@big.test', category: null, detail: { reply: '3 entries (domain big.test) removed from the suppression list by ada', removed: 3 } },
        { recipient: null, category: 'complaint', detail: { reply: '0 entries (category complaint) removed from the suppression list by ada', removed: 0 } },
      ]);
    });

    await t.test('import batches: in order, the last row for a key wins; the totals event with the last; a failing batch writes nothing', async (t) => {
      const s = await engine.open(t);
      await s.suppressions.upsert(entry('old@x.test', { expiresAt: T0 - 1, reason: 'expired' }));
      const batch = [entry('a@x.test', { source: 'import', reason: 'first' }), entry('old@x.test', { source: 'import', reason: 'back' }), entry('a@x.test', { source: 'import', reason: 'last' })];
      t.equal(await s.audited.importSuppressions(batch, null), 3);
      t.equal((await s.suppressions.get('a@x.test', null))!.reason, 'last', 'the last row for a key wins');
      t.match(await s.suppressions.get('old@x.test', null), { reason: 'back', source: 'import', createdAt: T0 }, 'an expired entry starts afresh');
      t.same(await events(s, 'suppressions_imported'), [], 'no event without an actor');
      t.equal(await s.audited.importSuppressions([], { by: ADA, imported: 3, skipped: 2 }), 0);
      t.match(await events(s, 'suppressions_imported'), [{ recipient: null, detail: { reply: '3 entries imported by ada (2 rows skipped)', admin: 'ada', imported: 3, skipped: 2 } }]);
      await s.audited.importSuppressions([entry('b@x.test', { source: 'import' })], { by: ADA, imported: 1, skipped: 0, stopped: 'line 9: EIO' });
      t.match((await events(s, 'suppressions_imported'))[1], { detail: { reply: '1 entries imported by ada (0 rows skipped); stopped early: line 9: EIO', stopped: 'line 9: EIO' } });
      t.ok(await s.suppressions.get('b@x.test', null), 'the batch is written with its event');

      // A row the table refuses (an unknown source): the whole batch and its event roll back.
      const bad = [entry('c@x.test', { source: 'import' }), entry('d@x.test', { source: 'elsewhere' as never })];
      await t.rejects(s.audited.importSuppressions(bad, { by: ADA, imported: 2, skipped: 0 }));
      t.equal(await s.suppressions.get('c@x.test', null), undefined, 'nothing of the batch');
      t.equal((await events(s, 'suppressions_imported')).length, 2, 'and no event');
    });

    await t.test('queue: retry and purge with their events; purge writes each fate', async (t) => {
      const s = await engine.open(t);
      const m = message({ recipients: ['a@slow.test', 'b@slow.test'], at: T0 });
      const other = message({ recipients: ['c@fast.test'], at: T0 });
      await s.queue.accept([m, other]);
      const claimed = await s.recipients.claim(T0, T0 + 60_000, 'node-a', 10);
      await s.recipients.releaseMany(claimed.map((r) => ({ id: r.id, at: T0 + 3_600_000 })));
      t.equal(await s.audited.retryQueue({ domain: 'slow.test' }, { ...ADA, at: T0 + 5 }), 2);
      t.same((await s.recipients.forMessage(m.message.id)).map((r) => r.nextAttemptAt), [T0 + 5, T0 + 5], 'due now');
      t.equal((await s.recipients.forMessage(other.message.id))[0]!.nextAttemptAt, T0 + 3_600_000, 'another destination untouched');
      t.equal(await s.audited.retryQueue({ messageId: other.message.id }, ADA), 1);
      t.match(await events(s, 'queue_retried'), [
        { at: T0 + 5, messageId: '', recipient: '@slow.test', detail: { reply: '2 recipients made due now by ada', due: 2 } },
        { messageId: other.message.id, recipient: null, detail: { due: 1 } },
      ]);

      const pending = await s.queueAdmin.pending({ domain: 'slow.test' });
      const fate = createFate({
        fates: s.fates,
        classifier: createClassifier(),
        retry: RETRY,
        clock: new ManualClock(T0 + 10),
        random: seededRandom(1),
        logger: silentLogger(),
        dsn: { onDropped: false },
      });
      const plans = fate.plan(purgeInputs(pending, 'purged by admin ada (console)'), T0 + 10);
      // One of them is delivered meanwhile: its plan no longer applies, and the count says so.
      await s.recipients.changeStatus(pending[1]!.id, { status: 'delivered', at: T0 + 9, nextAttemptAt: null, attempted: true, code: 250, reply: '250 ok' });
      const results = await s.audited.purgeQueue(plans, { domain: 'slow.test' }, { ...ADA, at: T0 + 10 });
      t.same(results.map((r) => [r.plan.address, r.applied]), [['a@slow.test', true], ['b@slow.test', false]]);
      t.same((await s.recipients.forMessage(m.message.id)).map((r) => r.status), ['expired', 'delivered']);
      t.same((await s.events.forMessage(m.message.id)).filter((e) => e.type === 'expired').map((e) => e.recipient), ['a@slow.test'], 'the fate event');
      t.match(await s.dsnOutbox.list(0, 10), [{ messageId: m.message.id, recipients: [{ address: 'a@slow.test', kind: 'expired' }] }], "the report to the sender's outbox");
      t.match(await events(s, 'queue_purged'), [{ at: T0 + 10, recipient: '@slow.test', detail: { reply: '1 recipients purged by ada', purged: 1, admin: 'ada' } }]);
    });

    await t.test('limits: set and remove with their events; a refused value writes neither', async (t) => {
      const s = await engine.open(t);
      const fields = { perMinute: 60, perHour: null, perDay: 1000, connections: null, perConnection: null };
      await s.audited.setLimit('gmail.com', fields, ADA);
      t.match(await s.limits.get('gmail.com'), { perMinute: 60, perDay: 1000, updatedAt: T0 });
      t.match(await events(s, 'limit_changed'), [{ detail: { reply: 'limit gmail.com set by ada', target: 'gmail.com', perMinute: 60, perHour: null, perDay: 1000 } }]);
      await t.rejects(s.audited.setLimit('bad.test', { ...fields, perMinute: 0 }, ADA), 'the table refuses a zero rate');
      t.equal(await s.limits.get('bad.test'), undefined);
      t.equal((await events(s, 'limit_changed')).length, 1, 'and no event');
      t.equal(await s.audited.removeLimit('gmail.com', ADA), true);
      t.equal(await s.limits.get('gmail.com'), undefined);
      t.equal(await s.audited.removeLimit('gmail.com', ADA), false);
      t.match(await events(s, 'limit_removed'), [{ detail: { reply: 'limit gmail.com removed by ada', target: 'gmail.com' } }]);
      t.equal((await events(s, 'limit_removed')).length, 1, 'nothing removed: no event');
    });
  },
};
