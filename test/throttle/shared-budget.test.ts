import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { testThrottle, throttleParams } from './fixtures.js';
import { batchFor } from '../../src/throttle/shared-budget.js';
import { openTestStore, testPg } from '../helpers/postgres.js';

/**
 * Two throttles on one PostgreSQL database are two nodes' gates (issue 14): a destination's rate
 * budget is the cluster's, not each node's. Counted, not timed: the clock is a ManualClock.
 */

const PARAMS = throttleParams();

t.test('batchFor: about one slot of the tightest limit, 1 to 10', async (t) => {
  t.equal(batchFor({ minute: 600, hour: null, day: null }), 10);
  t.equal(batchFor({ minute: 6000, hour: null, day: null }), 10, 'never more than 10 at once');
  t.equal(batchFor({ minute: 120, hour: null, day: null }), 2);
  t.equal(batchFor({ minute: null, hour: 20, day: null }), 1);
  t.equal(batchFor({ minute: 600, hour: 60, day: null }), 1, 'the tightest window decides');
});

t.test('two nodes share one per-minute budget: together they send the limit, not twice it', async (t) => {
  const { url } = await testPg();
  const clock = new ManualClock(1_800_000_000_000);
  const stores = [await openTestStore(t, url, 'node-a'), await openTestStore(t, url, 'node-b')];
  await stores[0]!.limits.set('example.test', { perMinute: 600, perHour: null, perDay: null, connections: null, perConnection: null }, clock.now());
  const nodes = await Promise.all(
    stores.map(async (s) => {
      const th = testThrottle({ limits: s.limits, clock, shared: s.limits });
      await th.load();
      return th;
    }),
  );

  /** Both nodes ask in turn (each with 3 concurrent workers) until both are refused; sends granted per node. */
  async function drain(): Promise<{ sent: number[]; waits: number[] }> {
    const sent = [0, 0];
    const waits = [0, 0];
    const open = [true, true];
    for (let round = 0; round < 2_000 && (open[0] || open[1]); round++) {
      await Promise.all(
        nodes.map(async (th, i) => {
          if (!open[i]) return;
          const answers = await Promise.all([0, 1, 2].map(() => th.takeMessage('example.test', clock.now(), 30)));
          for (const a of answers) {
            if (a === null) sent[i]!++;
            else {
              open[i] = false;
              waits[i] = a;
            }
          }
        }),
      );
    }
    return { sent, waits };
  }

  const first = await drain();
  const total = first.sent[0]! + first.sent[1]!;
  t.comment(`first minute: node a ${first.sent[0]}, node b ${first.sent[1]}`);
  t.ok(total <= 600, `the cluster sent no more than its 600 (${total}); per-node budgets would allow 1,200`);
  t.ok(total >= 580, `and not much less: grants held but unused are few (${total})`);
  t.ok(first.sent[0]! > 0 && first.sent[1]! > 0, 'both nodes sent');
  t.same(await stores[0]!.limits.budgetUsed('example.test', clock.now()), { minute: 600, hour: 600, day: 600 }, 'the cluster counted the whole budget');
  for (const [i, w] of first.waits.entries()) t.ok(w > clock.now(), `node ${i}: told to wait until the budget returns`);
  // Both learned the cluster's count at the refusal: held mail is planned on it, not on their own share.
  for (const th of nodes) t.ok(th.readyAt('example.test', clock.now())! > clock.now(), 'readyAt says wait on both nodes');

  clock.advance(61_000);
  const second = await drain();
  const again = second.sent[0]! + second.sent[1]!;
  t.ok(again <= 600 && again >= 580, `a minute later the budget is back, once (${again})`);
});

t.test('a node without a limited budget never asks the store', async (t) => {
  const { url } = await testPg();
  const clock = new ManualClock(1_800_000_000_000);
  const s = await openTestStore(t, url, 'node-a');
  let asked = 0;
  const th = testThrottle({
    limits: s.limits,
    clock,
    shared: {
      takeBudget: (...a) => (asked++, s.limits.takeBudget(...a)),
      budgetWindows: (b) => s.limits.budgetWindows(b),
    },
  });
  await th.load();
  for (let i = 0; i < 50; i++) t.equal(th.takeMessage('free.test', clock.now()), null);
  t.equal(asked, 0, 'an unlimited destination is answered at once, without a promise');
});

t.test('a slow-down one node learns applies on the other; a node that has not taken it up yet cannot erase it', async (t) => {
  const { url } = await testPg();
  const clock = new ManualClock(1_800_000_000_000);
  const stores = [await openTestStore(t, url, 'node-a'), await openTestStore(t, url, 'node-b')];
  await stores[0]!.limits.set('example.test', { perMinute: 600, perHour: null, perDay: null, connections: null, perConnection: null }, clock.now());
  const [a, b] = await Promise.all(
    stores.map(async (s) => {
      const th = testThrottle({ limits: s.limits, clock, shared: s.limits });
      await th.load();
      return th;
    }),
  );
  // Both have used the budget (so both have state to save).
  t.equal(await a!.takeMessage('example.test', clock.now()), null);
  t.equal(await b!.takeMessage('example.test', clock.now()), null);
  a!.rateLimited('example.test', '421 4.7.28 too fast');
  t.equal(a!.view('example.test').effectivePerMinute, 300, 'node a halved its rate');
  await a!.persist();
  // B saves its own state (no slow-down) after A: the cluster's slow-down stays.
  clock.advance(1_000);
  await b!.persist();
  t.equal(b!.view('example.test').effectivePerMinute, 600, 'node b has not checked yet');
  t.equal(await b!.adoptSlowDowns(), 1, 'node b takes up the slow-down at its next check');
  t.equal(b!.view('example.test').effectivePerMinute, 300, 'node b sends at the halved rate too');
  t.equal(await b!.adoptSlowDowns(), 0, 'once');
  t.equal(await a!.adoptSlowDowns(), 0, 'node a already has it');
  // After the cool-down, each eases it on its own (the same schedule); nothing is taken up again.
  clock.advance(PARAMS.slowDown.cooldownMs + 2 * PARAMS.slowDown.restoreStepMs);
  t.equal(a!.view('example.test').effectivePerMinute, 600, 'a: restored');
  t.equal(b!.view('example.test').effectivePerMinute, 600, 'b: restored');
  t.equal(await b!.adoptSlowDowns(), 0, 'an expired slow-down is not taken up');
});
