import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';

// The engine's SuppressionLookup (core/store.ts): a fresh cached answer comes back at once, with
// no promise (the RCPT path pays no round trip and no turn of the event loop); a miss of the
// cache, or a key a change on any node invalidated, is a promise answered by the database.

t.test('PostgreSQL suppressionLookup: synchronous on a cache hit, a promise otherwise', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_800_000_000_000;
  const first = b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now);
  t.ok(first instanceof Promise, 'not cached yet: a promise');
  t.equal(await first, undefined);
  t.equal(b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now), undefined, 'the cached miss, synchronously');

  await a.suppressions.upsert({ address: 'bob@x.test', domain: 'x.test', category: 'user_unknown', reason: '550 5.1.1', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  // The NOTIFY reaches node b; until it does, b may still answer its cached miss.
  const t0 = Date.now();
  let row = await b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now);
  while (!row && Date.now() - t0 < 5_000) {
    await new Promise((r) => setTimeout(r, 10));
    row = await b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now);
  }
  t.equal(row?.category, 'user_unknown', 'the change reached node b');
  const cached = b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now);
  t.notOk(cached instanceof Promise, 'then cached again');
  t.equal((cached as { address: string }).address, 'bob@x.test');
  t.ok(b.suppressionLookup.lookup('bob@x.test', 'x.test', null, now + 1) !== undefined);
  t.equal((await b.suppressionLookup.get('bob@x.test', null))?.id, (cached as { id: number }).id, 'get asks the database');
});
