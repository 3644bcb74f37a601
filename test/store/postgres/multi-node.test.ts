import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { accepted } from '../../helpers/store.js';

// Two engine instances on one database are two nodes: each has its own pool, LISTEN connection
// and webhook session, exactly as two Ferry processes would.

t.test('SKIP LOCKED claims from two nodes never overlap and miss nothing', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const total = 600;
  const batch = Array.from({ length: total / 3 }, (_, i) => accepted({ id: `C${i}`, at: 1_000, recipients: ['a@x.test', 'b@y.test', 'c@z.test'] }));
  await a.queue.accept(batch);
  const seen = new Map<number, string>();
  let overlaps = 0;
  async function worker(s: typeof a, name: string): Promise<void> {
    for (;;) {
      const got = await s.recipients.claim(10_000, 70_000, name, 7);
      if (!got.length) return;
      for (const r of got) {
        if (seen.has(r.id)) overlaps++;
        seen.set(r.id, name);
        t.equal(r.leaseUntil, 70_000);
      }
    }
  }
  await Promise.all([worker(a, 'node-a'), worker(a, 'node-a'), worker(b, 'node-b'), worker(b, 'node-b')]);
  t.equal(overlaps, 0, 'no recipient claimed twice');
  t.equal(seen.size, total, 'every recipient claimed');
  const byNode = [...seen.values()].reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
  t.ok((byNode.get('node-a') ?? 0) > 0 && (byNode.get('node-b') ?? 0) > 0, `both nodes worked: ${JSON.stringify([...byNode])}`);
  const leases = await a.recipients.leasesByOwner(20_000);
  t.equal((leases.get('node-a') ?? 0) + (leases.get('node-b') ?? 0), total);
  const nodes = await b.nodes.list(20_000);
  t.same(
    nodes.map((n) => [n.name, n.leasesHeld]),
    [
      ['node-a', byNode.get('node-a')],
      ['node-b', byNode.get('node-b')],
    ],
    'ferry nodes counts each node\'s leases',
  );
});

t.test("a killed node's leases are taken by another after expiry; a restarted node releases its own", async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  await a.queue.accept([accepted({ id: 'K1', at: 1_000, recipients: ['a@x.test', 'b@x.test'] })]);
  const held = await a.recipients.claim(2_000, 62_000, 'node-a', 10);
  t.equal(held.length, 2);
  await a.crash();
  t.same(await b.recipients.claim(30_000, 90_000, 'node-b', 10), [], 'not before the lease ends');
  // Meanwhile a backlog became due: the dead node's in-flight mail still goes first.
  await b.queue.accept(Array.from({ length: 5 }, (_, i) => accepted({ id: `K${i + 2}`, at: 1_500, recipients: ['c@x.test'] })));
  const taken = await b.recipients.claim(62_000, 122_000, 'node-b', 2);
  t.same(taken.map((r) => r.id).sort(), held.map((r) => r.id).sort(), 'taken once the lease ran out, before older due mail');
  t.equal((await b.recipients.claim(62_000, 122_000, 'node-b', 10)).length, 5, 'then the backlog');

  // node-b dies holding them; when it comes back it gives them back at once, without waiting for expiry.
  await b.crash();
  const b2 = await openTestStore(t, url, 'node-b', { now: () => 70_000 });
  const again = await b2.recipients.claim(70_000, 130_000, 'node-b', 10);
  t.equal(again.length, 7, 'released by the restart, due now');
});

t.test('a rate budget holds across two nodes (one statement per take)', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const limits = { perMinute: 600, perHour: null, perDay: null };
  const now = 1_800_000_000_000;
  let granted = 0;
  // Both nodes take batches of up to 5 as fast as they can, with 3 concurrent takers each.
  async function taker(s: typeof a): Promise<void> {
    for (let i = 0; i < 60; i++) {
      const g = await s.limits.takeBudget('gmail.com', now + i * 100, 5, limits);
      granted += g;
    }
  }
  await Promise.all([taker(a), taker(a), taker(a), taker(b), taker(b), taker(b)]);
  t.ok(Math.abs(granted - 600) <= 30, `granted ${granted} of a 600/minute budget (within 5 %)`);
  t.equal(granted, 600, 'in fact exactly the budget');
  t.equal(await a.limits.takeBudget('gmail.com', now + 30_000, 5, limits), 0, 'nothing left within the minute');
  t.same(await a.limits.budgetUsed('gmail.com', now + 10_000), { minute: 600, hour: 600, day: 600 });
  t.equal(await b.limits.takeBudget('gmail.com', now + 62_000, 5, limits), 5, 'tokens come back a window later');
  t.equal(await b.limits.takeBudget('other.com', now, 3, { perMinute: null, perHour: 2, perDay: null }), 2, 'the tightest window decides');
});

t.test('connection slots: a limit of 20 is 20 for the cluster', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const b = await openTestStore(t, url, 'node-b');
  const now = 1_000_000;
  const tries = await Promise.all(
    Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).limits.takeConnection('mx:google.com', i % 2 ? 'node-a' : 'node-b', `c${i}`, 20, now, now + 60_000)),
  );
  t.equal(tries.filter(Boolean).length, 20, '20 of 30 granted');
  t.equal(await a.limits.takeConnection('mx:google.com', 'node-a', 'late', 20, now + 1, now + 60_000), false);
  const held = tries.findIndex(Boolean);
  await (held % 2 ? a : b).limits.releaseConnection('mx:google.com', `c${held}`);
  t.equal(await a.limits.takeConnection('mx:google.com', 'node-a', 'late', 20, now + 2, now + 60_000), true, 'a freed slot is taken');
  t.equal(await b.limits.takeConnection('mx:google.com', 'node-b', 'after', 20, now + 60_001, now + 120_000), true, 'expired slots free themselves');
});

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
