import t from 'tap';
import type { Store } from '../../../src/core/store.js';
import type { AttemptContext } from '../../../src/outcome/apply.js';
import { ENGINES } from './engines.js';
import { message } from './fixtures.js';
import { planner } from './groups.js';

/*
 * Leases held through a long transfer (issue 14), on every engine: a node renews what it holds,
 * a renewal never touches what it no longer holds, and an attempt's outcome is not written over
 * another node's claim. Two nodes are two owner names on one store: the lease is all they share.
 */

t.setTimeout(600_000);

const T0 = 1_760_000_000_000;
const LEASE = 60_000;
const ctx: AttemptContext = { startedAt: T0, durationMs: 5, hop: { host: 'mx.x.test', ip: '127.0.0.1', port: 25, tls: null }, hops: [] };
const reply = (code: number, enhanced: string, text: string) => ({ code, enhanced, text, lines: [text] });

async function queued(s: Store, recipients: string[]): Promise<string> {
  const m = message({ recipients, at: T0 });
  await s.queue.accept([m]);
  return m.message.id;
}

const only = process.env.FERRY_STORE_ENGINES?.split(',');
for (const engine of ENGINES.filter((e) => !only || only.includes(e.name))) {
  t.test(engine.name, async (t) => {
    await t.test('a renewal keeps what the owner holds, and only that', async (t) => {
      const s = await engine.open(t);
      const id = await queued(s, ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test']);
      const mine = await s.recipients.claim(T0, T0 + LEASE, 'node-a', 10);
      t.equal(mine.length, 4);
      t.same(mine.map((r) => r.leaseOwner), ['node-a', 'node-a', 'node-a', 'node-a'], 'a claimed row names its owner');
      const [a, b, c, d] = mine.map((r) => r.id) as [number, number, number, number];
      // b is finished, c released; d's lease runs out and node-b claims it.
      await s.recipients.changeStatus(b, { status: 'delivered', at: T0 + 1, nextAttemptAt: null, attempted: true, code: 250, reply: '250 ok' });
      await s.recipients.releaseMany([{ id: c, at: T0 + LEASE * 10 }]);
      t.same(await s.recipients.renew('node-a', [a], T0 + 2 * LEASE), [a], 'renewed while held');
      const taken = await s.recipients.claim(T0 + LEASE, T0 + 4 * LEASE, 'node-b', 10);
      t.same(taken.map((r) => [r.id, r.leaseOwner]), [[d, 'node-b']], "when the first lease runs out, only d (not renewed) goes to node-b: a's lease runs to T0+2*LEASE");
      t.same((await s.recipients.claim(T0 + 2 * LEASE - 1, T0 + 4 * LEASE, 'node-c', 10)).map((r) => r.id), [], 'nor is a claimed before its renewed lease ends');
      const renewed = await s.recipients.renew('node-a', [a, b, c, d], T0 + 3 * LEASE);
      t.same(renewed, [a], 'a renewal leaves alone what is finished, released, or claimed by another owner');
      const rows = await s.recipients.forMessage(id);
      t.same(
        rows.map((r) => [r.address, r.status, r.leaseUntil, r.nextAttemptAt]),
        [
          ['a@x.test', 'queued', T0 + 3 * LEASE, T0 + 3 * LEASE],
          ['b@x.test', 'delivered', null, null],
          ['c@x.test', 'queued', null, T0 + LEASE * 10],
          ['d@x.test', 'queued', T0 + 4 * LEASE, T0 + 4 * LEASE],
        ],
        "node-b's lease on d untouched; the renewed row is not due before its lease ends",
      );
      t.same(await s.recipients.renew('node-a', [], T0), [], 'nothing to renew: no statement');
    });

    await t.test("an attempt's outcome is not written over another owner's claim", async (t) => {
      const s = await engine.open(t);
      const id = await queued(s, ['slow@x.test', 'kept@x.test', 'free@x.test']);
      const held = await s.recipients.claim(T0, T0 + LEASE, 'node-a', 10);
      const [slow, kept, free] = held;
      // slow's lease ran out during its transfer and node-b claimed it; free was released meanwhile.
      await s.recipients.renew('node-a', [kept!.id], T0 + 3 * LEASE);
      await s.recipients.releaseMany([{ id: free!.id, at: T0 + LEASE }]);
      const b = await s.recipients.claim(T0 + LEASE, T0 + 2 * LEASE, 'node-b', 10);
      t.same(b.map((r) => r.address).sort(), ['free@x.test', 'slow@x.test'], 'node-b claimed the expired lease and the released row');
      await s.recipients.releaseMany([{ id: b.find((r) => r.address === 'free@x.test')!.id, at: T0 + 10 * LEASE }]);
      const fate = planner();
      const plans = fate.plan(
        held.map((r) => ({ origin: 'attempt' as const, recipient: r, facts: { fact: { kind: 'failed' as const, phase: 'rcpt' as const, reply: reply(451, '4.3.0', '451 later') }, firstQueuedAt: T0, ctx } })),
        T0 + LEASE + 5,
      );
      t.same(plans.map((p) => p.leaseOwner), ['node-a', 'node-a', 'node-a'], "an attempt's plan names the owner of the claim it came from");
      const res = await s.fates.record(plans);
      t.same(
        res.map((r) => [r.plan.address, r.applied]),
        [['slow@x.test', false], ['kept@x.test', true], ['free@x.test', true]],
        "refused where node-b holds the lease; applied where node-a still does, or where nobody does",
      );
      const rows = await s.recipients.forMessage(id);
      const slowRow = rows.find((r) => r.address === 'slow@x.test')!;
      t.same([slowRow.status, slowRow.attempts, slowRow.leaseUntil], ['queued', 0, T0 + 2 * LEASE], "node-b's claim stands: no attempt counted, lease kept");
      t.same(await s.recipients.renew('node-b', [slowRow.id], T0 + 3 * LEASE), [slowRow.id], 'and node-b still holds it');
      t.equal((await s.attempts.forMessage(id)).filter((a) => a.recipientId === slowRow.id).length, 0, 'no attempt row for it');
      t.equal((await s.events.forMessage(id)).filter((e) => e.recipientId === slowRow.id && e.type === 'deferred').length, 0, 'no event for it');
      // node-b's own outcome is written.
      const bPlan = fate.plan([{ origin: 'attempt', recipient: b.find((r) => r.id === slowRow.id)!, facts: { fact: { kind: 'delivered', reply: reply(250, '2.0.0', '250 ok') }, firstQueuedAt: T0, ctx } }], T0 + LEASE + 9);
      t.same((await s.fates.record(bPlan)).map((r) => r.applied), [true]);
      t.equal((await s.recipients.get(slowRow.id))!.status, 'delivered');
    });
  });
}
