import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';

// Two engine instances on one database are two nodes. What they learn from each other without
// asking: suppression changes (LISTEN/NOTIFY) and the webhook sender's election (advisory lock).

t.test('a suppression changed on one node is honoured by the other within 1 s; cached lookups are fast', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_800_000_000_000;
  t.equal(await b.suppressions.lookup('bob@x.test', 'x.test', null, now), undefined, 'not suppressed (and the miss is cached)');
  t.equal(b.suppressions.cache.size, 1);

  const t0 = performance.now();
  await a.suppressions.upsert({ address: 'bob@x.test', domain: 'x.test', category: 'user_unknown', reason: '550 5.1.1', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  let seenAfter = -1;
  while (performance.now() - t0 < 2_000) {
    if (await b.suppressions.lookup('bob@x.test', 'x.test', null, now)) {
      seenAfter = performance.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(seenAfter >= 0 && seenAfter < 1_000, `node b honours the addition after ${seenAfter.toFixed(1)} ms`);

  const t1 = performance.now();
  t.equal(await b.suppressions.remove('bob@x.test', null), true);
  let goneAfter = -1;
  while (performance.now() - t1 < 2_000) {
    if (!(await a.suppressions.lookup('bob@x.test', 'x.test', null, now))) {
      goneAfter = performance.now() - t1;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(goneAfter >= 0 && goneAfter < 1_000, `node a honours the removal after ${goneAfter.toFixed(1)} ms`);

  // A domain entry reaches cached address lookups of that domain.
  t.equal(await b.suppressions.lookup('carol@x.test', 'x.test', 'app', now), undefined);
  await a.suppressions.upsert({ address: '@x.test', domain: 'x.test', category: 'domain_invalid', reason: '', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await b.suppressions.lookup('carol@x.test', 'x.test', 'app', now))?.address, '@x.test');

  // Lookup time: cached (the RCPT-time path) vs a round trip.
  const samples: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const s = performance.now();
    await b.suppressions.lookup(`u${i % 50}@y.test`, 'y.test', null, now);
    samples.push((performance.now() - s) * 1000);
  }
  const cached = samples.slice(50).sort((x, y) => x - y);
  const misses = samples.slice(0, 50).sort((x, y) => x - y);
  const median = cached[Math.floor(cached.length / 2)]!;
  t.comment(`suppression lookup: cached median ${median.toFixed(1)} µs, p99 ${cached[Math.floor(cached.length * 0.99)]!.toFixed(1)} µs; uncached median ${misses[25]!.toFixed(0)} µs`);
  t.ok(median < 100, `cached lookup median ${median.toFixed(1)} µs`);
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
  t.same((await a.events.settledAfter(0, 10)).map((e) => e.messageId), ['m-slow', 'm-fast'], 'both, in id order');

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

t.test('a lost LISTEN connection: lookups go to the database (never stale), then the cache comes back', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_800_000_000_000;
  t.equal(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), undefined);
  t.equal(b.suppressions.cache.listening, true);
  // The server ends node b's LISTEN session (a failover, a network cut, an admin's terminate).
  await a.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ferry node-b listen'");
  const until = Date.now() + 2_000;
  while (b.suppressions.cache.listening && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.equal(b.suppressions.cache.listening, false, 'node b noticed');
  // A change made while b cannot hear it is still seen: without LISTEN every lookup asks the database.
  await a.suppressions.upsert({ address: 'eve@x.test', domain: 'x.test', category: 'manual', reason: '', source: 'manual', scope: null, createdAt: now, expiresAt: null });
  t.ok(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), 'seen at once');
  while (!b.suppressions.cache.listening && Date.now() < until + 3_000) await new Promise((r) => setTimeout(r, 20));
  t.equal(b.suppressions.cache.listening, true, 'listening again');
  await a.suppressions.remove('eve@x.test', null);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await b.suppressions.lookup('eve@x.test', 'x.test', null, now), undefined, 'and notified again');
});

t.test('the webhook leader whose session the server ends stops leading; another node takes over', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  t.equal(await a.webhooks.tryLead(), true);
  t.equal(await b.webhooks.tryLead(), false);
  await b.pool.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted");
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await b.webhooks.tryLead(), true, 'b leads once a is gone');
  t.equal(await a.webhooks.tryLead(), false, 'a notices it lost the lock and does not lead');
  await b.webhooks.resign();
  t.equal(await a.webhooks.tryLead(), true, 'after a resignation the other takes over');
});
