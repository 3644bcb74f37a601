import t from 'tap';
import { advance, rateLimited, type SlowDownParams } from '../../src/throttle/slow-down.js';

const P: SlowDownParams = { cooldownMs: 1000, restoreStepMs: 500, minHalvingIntervalMs: 100 };

t.test('halving: from the configured rate, else from what was observed; floor 1', async (t) => {
  const cases: [number | null, number, number][] = [
    // current, observed, expected
    [60, 0, 30],
    [1, 0, 1],
    [3, 0, 1],
    [null, 9, 4],
    [null, 0, 1],
  ];
  for (const [current, observed, expected] of cases) {
    const { state, change } = rateLimited(null, 0, current, observed, 'r', P);
    t.equal(change, 'halved');
    t.equal(state.perMinute, expected, `current ${current}, observed ${observed}`);
    t.equal(state.restoreTo, Math.max(current ?? Math.max(1, observed), 1));
  }
});

t.test('within minHalvingIntervalMs only the cool-down is extended', async (t) => {
  const a = rateLimited(null, 0, 64, 0, 'r1', P).state;
  const b = rateLimited(a, 50, 32, 0, 'r2', P);
  t.equal(b.change, 'extended');
  t.equal(b.state.perMinute, 32);
  t.equal(b.state.until, 1050);
  t.equal(b.state.reason, 'r2');
  const c = rateLimited(b.state, 150, 32, 0, 'r3', P);
  t.equal(c.change, 'halved');
  t.equal(c.state.perMinute, 16);
  t.equal(c.state.restoreTo, 64, 'restores to the rate before the first halving');
  t.equal(c.state.since, 0);
});

t.test('restoring: nothing during the cool-down, then doubling per step up to restoreTo', async (t) => {
  const s = rateLimited(null, 0, 40, 0, 'r', P).state; // 20
  t.equal(advance(s, 999, P).change, null);
  const one = advance(s, 1000, P);
  t.equal(one.change, 'restored', '20 → 40 in one step');
  const deep = { ...s, perMinute: 5 };
  const a = advance(deep, 1000, P);
  t.equal(a.state!.perMinute, 10);
  t.equal(a.state!.nextStepAt, 1500);
  const b = advance(a.state!, 1600, P);
  t.equal(b.change, 'stepped');
  t.equal(b.state!.perMinute, 20, '5 → 10 at 1000, → 20 at 1500');
  t.equal(advance(b.state!, 1999, P).change, null, 'the next step is at 2000');
  t.equal(advance(b.state!, 2000, P).change, 'restored');
  t.equal(advance(deep, 10_000, P).change, 'restored', 'a long pause catches up all steps at once');
});
