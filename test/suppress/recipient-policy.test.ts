import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { parseAddress } from '../../src/policy/addresses.js';
import { openDatabase } from '../../src/store/db.js';
import { createSuppressionPolicy } from '../../src/suppress/recipient-policy.js';
import { createSuppressionList } from '../../src/suppress/suppression-list.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import type { RecipientDecision } from '../../src/core/policy.js';

function setup(t: typeof import('tap').default) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-policy-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const clock = new ManualClock(Date.UTC(2026, 2, 7, 23, 59));
  const store = createInProcessSqliteStore(db);
  const list = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock, defer: () => undefined });
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { list, clock };
}

const rcpt = (a: string) => parseAddress(a)!;
/** On SQLite the decision is synchronous (no promise at RCPT). */
const now = (d: RecipientDecision | Promise<RecipientDecision>): RecipientDecision => {
  if (d instanceof Promise) throw new Error('expected a synchronous decision');
  return d;
};
const app1 = { name: 'app1', fromDomains: [] };

t.test('drop mode: the entry reason and category; others accepted', async (t) => {
  const { list } = setup(t);
  const policy = createSuppressionPolicy({ list, mode: 'drop' });
  await list.suppress('gone@example.com', 'user_unknown', '550 5.1.1 <gone@example.com>: no such user', 'bounce');
  await list.suppress('quiet@example.com', 'manual', '', 'manual');
  t.same(now(policy.check(rcpt('Gone@Example.com'), null)), {
    action: 'drop',
    reason: 'on the suppression list: 550 5.1.1 <gone@example.com>: no such user',
    category: 'user_unknown',
  });
  t.same(now(policy.check(rcpt('quiet@example.com'), null)), { action: 'drop', reason: 'on the suppression list: manual', category: 'manual' }, 'no reason: the category says why');
  t.same(now(policy.check(rcpt('someone@example.com'), null)), { action: 'accept' });
});

t.test('reject mode: 550 5.7.1 naming the address, category and since date', async (t) => {
  const { list, clock } = setup(t);
  const policy = createSuppressionPolicy({ list, mode: 'reject' });
  await list.suppress('@blocked.test', 'domain_invalid', 'no MX', 'bounce');
  clock.advance(60_000); // the next day: "since" is the entry's date, not today's
  t.same(now(policy.check(rcpt('Anyone@Blocked.TEST'), null)), {
    action: 'reject',
    code: 550,
    text: '5.7.1 <Anyone@blocked.test>: recipient is on the suppression list (domain_invalid, since 2026-03-07)',
  });
  t.same(now(policy.check(rcpt('anyone@ok.test'), null)), { action: 'accept' });
});

t.test('scoped entries apply to the authenticated user only; changes apply at the next RCPT', async (t) => {
  const { list } = setup(t);
  const policy = createSuppressionPolicy({ list, mode: 'drop' });
  t.same(now(policy.check(rcpt('carol@example.com'), app1)), { action: 'accept' });
  await list.suppress('carol@example.com', 'complaint', 'spam report', 'complaint', { user: 'app1' });
  t.equal(now(policy.check(rcpt('carol@example.com'), app1)).action, 'drop');
  t.equal(now(policy.check(rcpt('carol@example.com'), { name: 'app2', fromDomains: [] })).action, 'accept');
  t.equal(now(policy.check(rcpt('carol@example.com'), null)).action, 'accept');
  await list.unsuppress('carol@example.com', 'app1');
  t.equal(now(policy.check(rcpt('carol@example.com'), app1)).action, 'accept');
});

t.test('a mode function is read at each RCPT (config reload)', async (t) => {
  const { list } = setup(t);
  let mode: 'drop' | 'reject' = 'drop';
  const policy = createSuppressionPolicy({ list, mode: () => mode });
  await list.suppress('x@example.com', 'manual', 'asked', 'manual');
  t.equal(now(policy.check(rcpt('x@example.com'), null)).action, 'drop');
  mode = 'reject';
  t.equal(now(policy.check(rcpt('x@example.com'), null)).action, 'reject');
});
