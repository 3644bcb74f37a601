import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { SuppressionLookup } from '../../src/core/store.js';
import type { NewSuppression, SuppressionRow } from '../../src/core/store-types.js';
import { parseAddress } from '../../src/policy/addresses.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { openThreadedSqliteStore, type ThreadedSqliteStore } from '../../src/store/sqlite/threaded.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { createSuppressionPolicy } from '../../src/suppress/recipient-policy.js';
import { createSuppressionList } from '../../src/suppress/suppression-list.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { freshWriterEntry } from '../helpers/writer-entry.js';

// The RCPT-time suppression read of the SQLite engines (Store.suppressionLookup, issue 13):
// the same answers as the one ordered statement it replaced, synchronously, and every change
// committed by another connection or another process (the `ferry` CLI) seen at the next lookup.

const NOW = Date.UTC(2026, 11, 7, 12);
const DAY = 86_400_000;

async function threaded(t: Test, file: string): Promise<ThreadedSqliteStore> {
  const writerEntry = freshWriterEntry();
  const store = await openThreadedSqliteStore({ file, ...(writerEntry ? { writerEntry } : {}) });
  t.teardown(() => store.close());
  return store;
}

/** A second read-write connection on the same file: what the CLI or the writer thread would be. */
function other(t: Test, file: string): { db: Db; repo: ReturnType<typeof createSuppressionsRepo> } {
  const db = openDatabase({ file });
  t.teardown(() => db.close());
  return { db, repo: createSuppressionsRepo(db) };
}

/** SQLite answers at once: a promise here would cost every RCPT a turn of the event loop. */
function now<T>(v: T | Promise<T>): T {
  if (v instanceof Promise) throw new Error('expected a synchronous answer from the SQLite lookup');
  return v;
}

const entry = (address: string, over: Partial<NewSuppression> = {}): NewSuppression => ({
  address,
  domain: address.slice(address.indexOf('@') + 1),
  category: 'user_unknown',
  reason: `550 5.1.1 ${address}`,
  source: 'bounce',
  scope: null,
  createdAt: NOW - DAY,
  expiresAt: null,
  ...over,
});

/**
 * The statement the lookup was before issue 13, kept here as the oracle: address entries before
 * the domain entry, global before the user's, expired entries ignored.
 */
function oracle(db: Db) {
  const q = db.prepare(
    `SELECT id FROM suppressions
     WHERE address IN (@address, @domainKey) AND scope IN ('', @scope)
       AND (expires_at IS NULL OR expires_at > @now)
     ORDER BY address = @domainKey, scope <> '' LIMIT 1`,
  );
  return (address: string, domain: string, user: string | null, at: number): number | undefined =>
    (q.get({ address, domainKey: `@${domain}`, scope: user ?? '', now: at }) as { id: number } | undefined)?.id;
}

t.test('every engine: the answer of the ordered statement, for any list and any lookup (property)', async (t) => {
  const file = join(tempDir(t), 'ferry.db');
  const { db, repo } = other(t, file);
  const store = await threaded(t, file);
  const inProcess = createInProcessSqliteStore(openDatabase({ file }));
  t.teardown(() => inProcess.close());
  const expected = oracle(db);
  const lookups: [string, SuppressionLookup][] = [
    ['threaded (read-only connection)', store.suppressionLookup],
    ['in-process', inProcess.suppressionLookup],
  ];

  // A small universe so that keys, scopes and expiries collide often.
  const keys = ['bob@a.example', 'amy@a.example', '@a.example', 'bob@b.example', '@b.example'];
  const scopes = [null, 'app1', 'app2'];
  const expiries = [null, NOW - 1, NOW, NOW + 1, NOW + DAY];
  const entryArb = fc.record({ key: fc.constantFrom(...keys), scope: fc.constantFrom(...scopes), expiresAt: fc.constantFrom(...expiries) });
  const queryArb = fc.record({
    address: fc.constantFrom('bob@a.example', 'amy@a.example', 'zed@a.example', 'bob@b.example', 'bob@c.example'),
    user: fc.constantFrom(...scopes),
    at: fc.constantFrom(NOW - DAY, NOW - 1, NOW, NOW + 1, NOW + 2 * DAY),
  });
  let hits = 0;
  let checks = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(entryArb, { maxLength: 8 }), fc.array(queryArb, { minLength: 1, maxLength: 10 }), async (entries, queries) => {
      repo.clear({});
      for (const e of entries) repo.upsert(entry(e.key, { scope: e.scope, expiresAt: e.expiresAt }));
      for (const q of queries) {
        const domain = q.address.slice(q.address.indexOf('@') + 1);
        const want = expected(q.address, domain, q.user, q.at);
        if (want !== undefined) hits++;
        for (const [name, lookup] of lookups) {
          const got = now(lookup.lookup(q.address, domain, q.user, q.at)) as SuppressionRow | undefined;
          checks++;
          if (got?.id !== want) {
            throw new Error(`${name}: lookup(${q.address}, user ${q.user}, at ${q.at - NOW}) gave ${got?.id} (${got?.address}/${got?.scope}), expected ${want}`);
          }
        }
      }
    }),
    { numRuns: 300, seed: 1307 },
  );
  t.ok(hits > 100 && checks - 2 * hits > 100, `both answers were exercised: ${hits} suppressed and ${checks / 2 - hits} not, of ${checks / 2} lookups`);
});

t.test('a hit carries the whole entry, as the policy reads it', async (t) => {
  const file = join(tempDir(t), 'ferry.db');
  const { repo } = other(t, file);
  const store = await threaded(t, file);
  const { row } = repo.upsert(entry('bob@a.example', { category: 'mailbox_disabled', reason: '550 5.2.1 disabled', scope: 'app1', expiresAt: NOW + DAY }));
  repo.hit(row.id, NOW - 5);
  const got = now(store.suppressionLookup.lookup('bob@a.example', 'a.example', 'app1', NOW));
  t.same(got, { ...row, hits: 1, lastHitAt: NOW - 5 });
  t.equal(now(store.suppressionLookup.lookup('bob@a.example', 'a.example', null, NOW)), undefined, "another user's entry does not apply");
  t.equal(now(store.suppressionLookup.get('bob@a.example', 'app1'))?.id, row.id, 'get by key');
});

t.test('what another connection commits is seen by the very next lookup, added or removed', async (t) => {
  const file = join(tempDir(t), 'ferry.db');
  const { repo } = other(t, file);
  const store = await threaded(t, file);
  const look = () => now(store.suppressionLookup.lookup('carol@c.example', 'c.example', null, NOW));
  // Many misses first, so whatever the lookup keeps between calls has had its chance to settle.
  for (let i = 0; i < 1000; i++) now(store.suppressionLookup.lookup(`n${i}@c.example`, 'c.example', null, NOW));
  t.equal(look(), undefined);
  repo.upsert(entry('carol@c.example'));
  t.equal(look()?.address, 'carol@c.example', 'an address entry added');
  repo.remove('carol@c.example', null);
  t.equal(look(), undefined, 'removed');
  repo.upsert(entry('@c.example', { category: 'domain_invalid' }));
  t.equal(look()?.address, '@c.example', 'a whole-domain entry added');
  repo.upsert(entry('carol@c.example', { category: 'mailbox_disabled' }));
  t.equal(look()?.category, 'mailbox_disabled', 'the address entry now wins over the domain entry');
  repo.clear({});
  t.equal(look(), undefined, 'the whole list cleared');
  // The relay's own writes, through its writer thread: seen once the write's promise resolves.
  await store.suppressions.upsert(entry('carol@c.example'));
  t.equal(look()?.address, 'carol@c.example', "the writer thread's commit");
  await store.suppressions.remove('carol@c.example', null);
  t.equal(look(), undefined, "the writer thread's removal");
});

t.test('the ferry CLI in another process: the next RCPT after its commit sees it, in any spelling', async (t) => {
  const dataDir = tempDir(t, 'ferry-rcpt-cli-');
  const file = join(dataDir, 'ferry.db');
  const store = await threaded(t, file);
  const clock = new ManualClock(NOW);
  const list = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock, defer: () => undefined });
  const policy = createSuppressionPolicy({ list, mode: 'drop' });
  const rcpt = (address: string) => {
    const d = policy.check(parseAddress(address)!, null);
    if (d instanceof Promise) throw new Error('expected a synchronous decision');
    return d.action;
  };
  const env = { FERRY_DATA_DIR: dataDir };
  t.equal(rcpt('Dave@D.Example'), 'accept');

  const add = await runFerry(['suppressions', 'add', 'dave@d.example'], { env });
  t.equal(add.code, 0, add.stderr);
  for (const spelling of ['dave@d.example', 'Dave@D.Example', 'DAVE@d.EXAMPLE']) t.equal(rcpt(spelling), 'drop', spelling);
  t.equal(rcpt('dave2@d.example'), 'accept', 'another address of the domain');

  const remove = await runFerry(['suppressions', 'remove', 'DAVE@d.example'], { env });
  t.equal(remove.code, 0, remove.stderr);
  t.equal(rcpt('Dave@D.Example'), 'accept', 'removed by the CLI: sent again');

  const domain = await runFerry(['suppressions', 'add', '@D.example'], { env });
  t.equal(domain.code, 0, domain.stderr);
  t.equal(rcpt('anyone@d.example'), 'drop', 'a whole-domain entry from the CLI');
  t.equal(rcpt('anyone@sub.d.example'), 'accept', 'not its subdomains');
});
