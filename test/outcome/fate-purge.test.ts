import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createConsoleActions } from '../../src/http/console/actions.js';
import type { AppliedFate } from '../../src/outcome/fate.js';
import { createDsnOutboxRepo } from '../../src/store/dsn-outbox-repo.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { fateFor } from '../helpers/fate.js';
import { accepted, testDb } from '../helpers/store.js';

/**
 * The console's Purge goes through outcome/fate: each pending recipient's fate (expired, event,
 * a DSN line for its sender) commits in the store operation that records the admin's event
 * (Store.audited.purgeQueue), and the after-commit hook runs once. (`ferry queue purge` is covered in test/admin/queue.test.ts.)
 */
t.test('console purge: fates and the admin event in one transaction, a DSN line per message, one hook', async (t) => {
  const { db } = testDb(t);
  const clock = new ManualClock(1_760_000_100_000);
  const queue = createQueueStore(db);
  const hooks: AppliedFate[][] = [];
  const { fate, store } = fateFor(db, { clock, dsn: { onDropped: false }, afterCommit: (a) => hooks.push(a) });
  const actions = createConsoleActions({ store, clock, fates: { plan: fate.plan, committed: fate.committed } });
  const m = accepted({ recipients: ['a@slow.test', 'b@slow.test'] });
  const other = accepted({ recipients: ['c@fast.test'] });
  queue.accept([m, other]);

  const res = await actions.purge({ name: 'ada', role: 'admin' }, { domain: 'slow.test' });
  t.same(res, { purged: 2, inFlight: 0 });
  t.same(queue.recipients.forMessage(m.message.id).map((r) => [r.status, r.lastReply]), [
    ['expired', 'purged by admin ada (console)'],
    ['expired', 'purged by admin ada (console)'],
  ]);
  t.equal(queue.recipients.forMessage(other.message.id)[0]!.status, 'queued', 'another destination untouched');
  const types = queue.events.forMessage(m.message.id).map((e) => [e.type, e.category]);
  t.same(types, [['queued', null], ['queued', null], ['expired', 'other'], ['expired', 'other']]);
  t.match(queue.events.list({ type: 'queue_purged', limit: 5 }), [{ recipient: '@slow.test', detail: { admin: 'ada', purged: 2 } }], 'the admin\'s own event, naming the account');
  const outbox = createDsnOutboxRepo<{ address: string; kind: string; purged?: boolean }>(db).list(0, 10);
  t.same(outbox.map((o) => [o.messageId, o.recipients.map((r) => [r.address, r.kind, r.purged])]), [
    [m.message.id, [['a@slow.test', 'expired', true], ['b@slow.test', 'expired', true]]],
  ], 'one report line per recipient, one outbox row for the message');
  t.equal(hooks.length, 1, 'the after-commit hook ran once');
  t.same(hooks[0]!.map((a) => [a.origin, a.recipient.address, a.dsnRecorded]), [['admin-purge', 'a@slow.test', true], ['admin-purge', 'b@slow.test', true]]);

  t.same(await actions.purge({ name: 'ada', role: 'admin' }, { domain: 'slow.test' }), { purged: 0, inFlight: 0 }, 'a second purge finds nothing pending');
  await t.rejects(actions.purge({ name: 'sam', role: 'support' }, { domain: 'fast.test' }), /needs the admin role/);
});
