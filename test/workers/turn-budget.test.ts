import t from 'tap';
import { createTurnBudget } from '../../src/workers/turn-budget.js';

/** A budget on a manual clock and a manual event loop: turn() runs what was deferred to the next turn, then lets the promises settle. */
function manual(budgetMs: number) {
  let clock = 0;
  const deferred: (() => void)[] = [];
  const budget = createTurnBudget({ budgetMs, now: () => clock, defer: (fn) => deferred.push(fn) });
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return {
    budget,
    /** a unit of work that takes ms on the clock and records the turn it ran in */
    unit: (name: string, ms: number, log: string[], turnOf: () => number) => () => {
      clock += ms;
      log.push(`${name}@${turnOf()}`);
      return name;
    },
    pendingTurns: () => deferred.length,
    async turn() {
      const fns = deferred.splice(0);
      for (const fn of fns) fn();
      await settle();
    },
  };
}

t.test('work beyond the budget goes on in the next turn, in order', async (t) => {
  const m = manual(2);
  const log: string[] = [];
  let turn = 0;
  const results = ['a', 'b', 'c', 'd', 'e'].map((n) => m.budget.run(m.unit(n, 1, log, () => turn)));
  await new Promise<void>((r) => setImmediate(r));
  t.same(log, [], 'nothing runs before the loop gives it a turn');
  while (m.pendingTurns() > 0) {
    turn++;
    await m.turn();
  }
  t.same(log, ['a@1', 'b@1', 'c@2', 'd@2', 'e@3'], 'two 1 ms units per 2 ms turn');
  t.same(await Promise.all(results), ['a', 'b', 'c', 'd', 'e'], 'each caller gets its own result');
  t.match(m.budget.stats, { units: 5, turns: 3, waiting: 0 });
});

t.test('a unit longer than the budget runs alone, and nothing starves', async (t) => {
  const m = manual(2);
  const log: string[] = [];
  let turn = 0;
  const all = Promise.all([m.budget.run(m.unit('long', 10, log, () => turn)), m.budget.run(m.unit('short', 0, log, () => turn))]);
  while (m.pendingTurns() > 0) {
    turn++;
    await m.turn();
  }
  await all;
  t.same(log, ['long@1', 'short@2']);
});

t.test('a unit that throws rejects its own caller only; the next one still runs', async (t) => {
  const m = manual(5);
  const failing = m.budget.run(() => {
    throw new Error('boom');
  });
  const rejected = t.rejects(failing, /boom/);
  const next = m.budget.run(async () => 'after');
  while (m.pendingTurns() > 0) await m.turn();
  await rejected;
  t.equal(await next, 'after', 'a promise result passes through');
});

t.test('work asked for while a turn runs joins it within the budget; later work starts a new turn', async (t) => {
  const m = manual(3);
  const log: string[] = [];
  let turn = 1;
  const first = m.budget.run(() => {
    log.push('first');
    // asked for during the turn: runs in it, the budget allows
    return m.budget.run(() => log.push('nested'));
  });
  await m.turn();
  await first;
  t.same(log, ['first', 'nested']);
  t.equal(m.pendingTurns(), 0, 'nothing left for another turn');
  const later = m.budget.run(() => log.push(`later@${turn}`));
  t.equal(m.pendingTurns(), 1, 'idle: the next call asks for a turn');
  turn = 2;
  await m.turn();
  await later;
  t.same(log, ['first', 'nested', 'later@2']);
});

t.test('on the real event loop: timers get their turn between budgets', async (t) => {
  const budget = createTurnBudget({ budgetMs: 1 });
  const order: string[] = [];
  let timer: Promise<void> | null = null;
  const busy = (name: string) => () => {
    // the first unit sets a 1 ms timer, then works 2 ms: the timer is due before the next turn
    if (!timer) timer = new Promise<void>((r) => setTimeout(() => (order.push('timer'), r()), 0));
    const until = performance.now() + 2;
    while (performance.now() < until);
    order.push(name);
  };
  await Promise.all([budget.run(busy('a')), budget.run(busy('b')), budget.run(busy('c'))]);
  await timer;
  t.same(order, ['a', 'timer', 'b', 'c'], 'the timer ran between the first turn and the second');
  t.equal(budget.stats.turns, 3, 'one 2 ms unit per 1 ms turn');
});
