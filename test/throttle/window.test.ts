import t from 'tap';
import { SlidingWindow, WindowSet, WINDOWS } from '../../src/throttle/window.js';

const T0 = Date.UTC(2026, 0, 1);

t.test('never more than N in any window: spent tokens come back one window (plus one slot) later', async (t) => {
  const w = new SlidingWindow(WINDOWS.minute);
  for (let i = 0; i < 60; i++) w.take(T0);
  t.equal(w.used(T0), 60);
  t.same(w.schedule(T0, 60, 1), [T0 + 61_000], 'the next send waits until the slot is a minute old');
  t.equal(w.used(T0 + 60_999), 60);
  t.equal(w.used(T0 + 61_000), 0);
  t.same(w.schedule(T0 + 61_000, 60, 2), [T0 + 61_000, T0 + 61_000]);
});

t.test('schedule spreads the waiting sends as the budget returns', async (t) => {
  const w = new SlidingWindow(WINDOWS.minute);
  w.take(T0, 3);
  w.take(T0 + 10_000, 2);
  const s = w.schedule(T0 + 20_000, 6, 8);
  t.same(s, [T0 + 20_000, T0 + 61_000, T0 + 61_000, T0 + 61_000, T0 + 71_000, T0 + 71_000, T0 + 81_000, T0 + 122_000]);
});

t.test('a lowered limit: tokens spent over it return without making room', async (t) => {
  const w = new SlidingWindow(WINDOWS.minute);
  w.take(T0, 10);
  w.take(T0 + 30_000, 10);
  // limit 5 now: 20 used; the first 15 returns (at 61 s) only bring usage to 10, the next to 0
  t.same(w.schedule(T0 + 30_000, 5, 1), [T0 + 91_000]);
});

t.test('several windows: a send goes when all have room', async (t) => {
  const set = new WindowSet();
  const times = set.schedule(T0, { minute: 2, hour: 3, day: null }, 5);
  t.same(times, [T0, T0, T0 + 61_000, T0 + 3_660_000, T0 + 3_660_000]);
  set.take(T0, 2);
  t.same(set.used(T0), { minute: 2, hour: 2, day: 2 });
});

t.test('state survives a round trip through JSON; junk is ignored', async (t) => {
  const set = new WindowSet();
  set.take(T0, 7);
  set.take(T0 + 5 * 60_000, 1);
  const back = WindowSet.parse(JSON.stringify(set.toJSON()), T0 + 5 * 60_000);
  t.same(back.used(T0 + 5 * 60_000), { minute: 1, hour: 8, day: 8 });
  t.same(WindowSet.parse('not json', T0).used(T0), { minute: 0, hour: 0, day: 0 });
  t.same(WindowSet.parse('{"day":[["x",1],[5]]}', T0).used(T0), { minute: 0, hour: 0, day: 0 });
});
