import t from 'tap';
import { SUPPRESSIONS_CHANNEL } from '../../../src/store/postgres/suppression-lookup.js';
import { openTestStore, testPg } from '../../helpers/postgres.js';

// Two engine instances on one database are two nodes. What they learn from each other without
// asking: suppression changes (LISTEN/NOTIFY) and the webhook sender's election (advisory lock).

/** Polls `seen` until it holds (an event from the server: NOTIFY, a session ending); the bound only stops a broken test. */
async function eventually(seen: () => Promise<boolean> | boolean, boundMs = 15_000): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (!(await seen())) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

t.test('a suppression changed on one node is honoured by the other without asking; cached lookups skip the database', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_800_000_000_000;
  t.equal(await b.suppressions.lookup('bob@x.test', 'x.test', null, now), undefined, 'not suppressed (and the miss is cached)');
  t.equal(b.suppressions.cache.size, 1);

  // The cache's own safety net (entries re-read after maxAgeMs, 60 s) is far beyond the polling
  // bound, so an answer that changes here was changed by the notification. How fast is printed,
  // not asserted (a loaded machine delays it).
  const t0 = performance.now();
  await a.suppressions.upsert({ address: 'bob@x.test', domain: 'x.test', category: 'user_unknown', reason: '550 5.1.1', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  t.ok(await eventually(async () => !!(await b.suppressions.lookup('bob@x.test', 'x.test', null, now))), 'node b honours the addition');
  t.comment(`node b honoured the addition after ${(performance.now() - t0).toFixed(1)} ms`);

  const t1 = performance.now();
  t.equal(await b.suppressions.remove('bob@x.test', null), true);
  t.ok(await eventually(async () => !(await a.suppressions.lookup('bob@x.test', 'x.test', null, now))), 'node a honours the removal');
  t.comment(`node a honoured the removal after ${(performance.now() - t1).toFixed(1)} ms`);

  // A domain entry reaches cached address lookups of that domain.
  t.equal(await b.suppressions.lookup('carol@x.test', 'x.test', 'app', now), undefined);
  await a.suppressions.upsert({ address: '@x.test', domain: 'x.test', category: 'domain_invalid', reason: '', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  t.ok(await eventually(async () => (await b.suppressions.lookup('carol@x.test', 'x.test', 'app', now))?.address === '@x.test'), 'the domain entry reaches the cached address lookup');

  // Node b's lookups above can be answered by the database before b hears a notification (a
  // lookup made while one arrives is not cached), so one still in flight here would uncache a
  // lookup below. Notifications reach a session in commit order: once b has heard a marker sent
  // after them, it has heard them all.
  const marker = ['marker@z.test', 'z.test', null, now] as const;
  t.ok(await eventually(async () => (await b.suppressions.lookup(...marker), b.suppressions.cache.peek(...marker) !== null)), 'a marker lookup is cached');
  await a.pool.query('SELECT pg_notify($1, $2)', [SUPPRESSIONS_CHANNEL, marker[0]]);
  t.ok(await eventually(() => b.suppressions.cache.peek(...marker) === null), 'node b has heard every change so far');

  // Cached lookups (the RCPT-time path) do not ask the database: counted, not timed. Lookup
  // times are printed for the reader.
  let queries = 0;
  const query = b.pool.query.bind(b.pool);
  (b.pool as { query: unknown }).query = (...args: Parameters<typeof query>) => {
    // Suppression lookups only: the node's heartbeat shares the pool.
    if (typeof args[0] === 'string' && args[0].includes('FROM suppressions')) queries++;
    return query(...args);
  };
  t.teardown(() => void ((b.pool as { query: unknown }).query = query));
  const samples: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const s = performance.now();
    await b.suppressions.lookup(`u${i % 50}@y.test`, 'y.test', null, now);
    samples.push((performance.now() - s) * 1000);
    if (i === 49) t.equal(queries, 50, 'each first lookup asks the database');
  }
  t.equal(queries, 50, 'the 1,950 repeated lookups are answered from the cache');
  const cached = samples.slice(50).sort((x, y) => x - y);
  const misses = samples.slice(0, 50).sort((x, y) => x - y);
  const median = cached[Math.floor(cached.length / 2)]!;
  t.comment(`suppression lookup: cached median ${median.toFixed(1)} µs, p99 ${cached[Math.floor(cached.length * 0.99)]!.toFixed(1)} µs; uncached median ${misses[25]!.toFixed(0)} µs`);
});

t.test('exactly one webhook sender, and failover when it dies', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const c = await openTestStore(t, url, 'node-c');
  const first = await Promise.all([a.webhooks.tryLead(), b.webhooks.tryLead(), c.webhooks.tryLead()]);
  t.equal(first.filter(Boolean).length, 1, 'one leader among three');
  const again = await Promise.all([a.webhooks.tryLead(), b.webhooks.tryLead(), c.webhooks.tryLead()]);
  t.same(again, first, 'leadership is stable while the leader lives');
  const stores = [a, b, c];
  const leader = stores[first.indexOf(true)]!;
  await leader.crash();
  const rest = stores.filter((s) => s !== leader);
  const after = await Promise.all(rest.map((s) => s.webhooks.tryLead()));
  t.equal(after.filter(Boolean).length, 1, 'another node leads once the leader is gone');
});

t.test('the webhook cursor never skips an event committed late under a lower id', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const slow = await a.pool.connect();
  await slow.query('BEGIN');
  await slow.query("INSERT INTO events (at, message_id, type) VALUES (1, 'm-slow', 'queued')");
  await a.events.append({ at: 2, messageId: 'm-fast', recipientId: null, recipient: null, type: 'queued', status: null, category: null, detail: null });
  t.same(await a.events.settledAfter(0, 10), [], 'the later id waits while the earlier transaction runs');
  await slow.query('COMMIT');
  slow.release();
  // "Settled" means older than every transaction still running on the whole server, and the
  // run's other test files share it: one of their transactions can hold the horizon back for a
  // moment, so this waits for the condition (the bound only stops a broken test).
  let settled: string[] = [];
  t.ok(await eventually(async () => (settled = (await a.events.settledAfter(0, 10)).map((e) => e.messageId)).length === 2), 'both settle once the slow one commits');
  t.same(settled, ['m-slow', 'm-fast'], 'both, in id order');

  const cur = await a.webhooks.ensure('https://h.test/', 0, 5);
  t.equal(cur.lastEventId, 0);
  await a.webhooks.advance('https://h.test/', 2, 6);
  await a.webhooks.advance('https://h.test/', 1, 7);
  t.equal((await a.webhooks.get('https://h.test/'))!.lastEventId, 2, 'never moves back');
  t.equal(await a.webhooks.lease('https://h.test/', 'node-a', 10, 100), true);
  t.equal(await a.webhooks.lease('https://h.test/', 'node-b', 50, 150), false);
  t.equal(await a.webhooks.lease('https://h.test/', 'node-b', 100, 200), true, 'after the lease ends');
  await a.webhooks.fail('https://h.test/', 'HTTP 500', 9);
  t.equal((await a.webhooks.list())[0]!.failures, 1);
});

t.test('the webhook cursor never skips an event whose transaction took its id first but its transaction id last', async (t) => {
  // A fate transaction writes its rows first (taking a transaction id) and its events last
  // (taking event ids): two of them interleaved give the lower event id to the younger
  // transaction. Driven step by step on two connections, no timing involved.
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const older = await a.pool.connect();
  const younger = await a.pool.connect();
  t.teardown(() => {
    older.release();
    younger.release();
  });
  await older.query('BEGIN');
  await older.query('SELECT pg_current_xact_id()');
  await younger.query('BEGIN');
  await younger.query("INSERT INTO events (at, message_id, type) VALUES (1, 'm-younger', 'queued')");
  await older.query("INSERT INTO events (at, message_id, type) VALUES (2, 'm-older', 'queued')");
  const ids = (await a.pool.query<{ id: string; message_id: string }>('SELECT id, message_id FROM events ORDER BY id')).rows;
  t.same(ids, [], 'neither is visible yet');
  await older.query('COMMIT');
  const hook = 'https://h.test/';
  await a.webhooks.ensure(hook, 0, 1);
  const delivered: string[] = [];
  // The sender's loop: read what is settled after the cursor, deliver it, advance.
  const tick = async (): Promise<void> => {
    const batch = await a.events.settledAfter((await a.webhooks.get(hook))!.lastEventId, 10);
    if (batch.length === 0) return;
    delivered.push(...batch.map((e) => e.messageId));
    await a.webhooks.advance(hook, batch[batch.length - 1]!.id, 2);
  };
  await tick();
  t.ok(delivered.length <= 1 && !delivered.includes('m-younger'), 'at most the committed one goes out while the other runs');
  await younger.query('COMMIT');
  t.ok(await eventually(async () => (await tick(), delivered.length >= 2)), 'the one committed late under the lower id is delivered too');
  t.same([...delivered].sort(), ['m-older', 'm-younger'], 'each exactly once');
  await tick();
  t.equal(delivered.length, 2, 'and nothing again');
});

t.test('a lost LISTEN connection: lookups go to the database (never stale), then the cache comes back', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_800_000_000_000;
  t.equal(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), undefined);
  t.equal(b.suppressions.cache.listening, true);
  // The server ends node b's LISTEN session (a failover, a network cut, an admin's terminate).
  // (This database's session only: other test files' nodes share the server.)
  await a.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ferry node-b listen' AND datname = current_database()");
  t.ok(await eventually(() => !b.suppressions.cache.listening), 'node b noticed');
  // A change made while b cannot hear it is still seen: without LISTEN every lookup asks the database.
  await a.suppressions.upsert({ address: 'eve@x.test', domain: 'x.test', category: 'manual', reason: '', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  t.ok(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), 'seen at once');
  t.ok(await eventually(() => b.suppressions.cache.listening), 'listening again');
  t.ok(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), 'still suppressed (and cached again)');
  await a.suppressions.remove('eve@x.test', null);
  t.ok(await eventually(async () => (await b.suppressions.lookup('eve@x.test', 'x.test', null, now)) === undefined), 'and notified again');
});

t.test('the webhook leader whose session the server ends stops leading; another node takes over', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  t.equal(await a.webhooks.tryLead(), true);
  t.equal(await b.webhooks.tryLead(), false);
  await b.pool.query(
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
  );
  // The lock goes with the session as the server ends it: b wins as soon as it is free.
  t.ok(await eventually(() => b.webhooks.tryLead()), 'b leads once a is gone');
  t.equal(await a.webhooks.tryLead(), false, 'a notices it lost the lock and does not lead');
  await b.webhooks.resign();
  t.equal(await a.webhooks.tryLead(), true, 'after a resignation the other takes over');
});
