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

t.test('connection slots are renewed at the limit (never refused), only the owner\'s and only while live', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'node-a');
  const now = 1_000_000;
  for (const token of ['s1', 's2']) t.equal(await a.limits.takeConnection('example.test', 'node-a', token, 2, now, now + 30_000), true);
  t.equal(await a.limits.takeConnection('example.test', 'node-a', 's1', 2, now + 1, now + 60_000), false, 'takeConnection is refused at the limit, even for a slot held');
  t.same((await a.limits.renewConnections('node-a', ['s1', 's2', 'gone'], now + 10_000, now + 40_000)).sort(), ['s1', 's2'], 'both renewed at the limit; an unknown token is not');
  t.same(await a.limits.renewConnections('node-b', ['s1'], now + 10_000, now + 90_000), [], 'another owner\'s slot is not renewed');
  t.equal(await a.limits.takeConnection('example.test', 'node-b', 'x', 2, now + 35_000, now + 60_000), false, 'renewed slots still count after their first until');
  t.same(await a.limits.renewConnections('node-a', ['s1'], now + 40_000, now + 70_000), [], 'an expired slot is not renewed (take it again)');
});
