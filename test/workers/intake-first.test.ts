import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createIntakeFirst } from '../../src/workers/intake-first.js';

const settle = () => new Promise<void>((r) => setImmediate(r));

/** A pacer on a manual clock whose event-loop utilization the test sets. */
function setup(options: { share?: number; minPerWindow?: number; maxHoldMs?: number } = {}) {
  const clock = new ManualClock(0);
  let util = 0;
  const pace = createIntakeFirst({ now: () => clock.now(), setTimer: (ms, fn) => clock.setTimer(ms, fn), windowMs: 100, busyAt: 0.75, share: options.share ?? 0.5, minPerWindow: options.minPerWindow ?? 2, maxHoldMs: options.maxHoldMs ?? 1000, utilization: () => util });
  let started = 0;
  /** n starts asked for now; counts those let go */
  const ask = (n: number) => {
    for (let i = 0; i < n; i++) {
      const p = pace.admit();
      if (p === null) started++;
      else void p.then(() => started++);
    }
  };
  return {
    clock,
    pace,
    ask,
    started: () => started,
    setUtil: (u: number) => {
      util = u;
    },
  };
}

t.test('an idle or unhurried loop never holds a start', async (t) => {
  const s = setup();
  s.ask(50);
  t.equal(s.started(), 50, 'no intake yet: every start goes');
  s.pace.accepted(100);
  s.setUtil(0.5);
  s.clock.advance(100);
  s.ask(50);
  t.equal(s.started(), 100, 'intake, but the loop had time to spare: every start goes');
  s.setUtil(1);
  s.clock.advance(100); // a window with no intake in it, however busy
  s.ask(50);
  t.equal(s.started(), 150, 'a busy loop without intake: every start goes');
  t.equal(s.pace.stats.yieldingWindows, 0);
});

t.test('while intake is short of CPU, starts take their share per window, and the rest goes in later windows', async (t) => {
  const s = setup({ share: 0.5, minPerWindow: 2 });
  s.setUtil(0.9);
  s.pace.accepted(40);
  s.clock.advance(100);
  s.pace.accepted(40); // the window measured at the first start below held 40 accepts
  s.ask(30);
  await settle();
  t.equal(s.started(), 20, 'half a start per message accepted in the busy window before');
  t.equal(s.pace.stats.waiting, 10);
  s.clock.advance(100); // 40 more were accepted in that window: room for the 10
  await settle();
  t.equal(s.started(), 30, 'the held starts go in the next window');
  t.equal(s.pace.stats.waiting, 0);
  t.ok(s.pace.stats.yieldingWindows >= 2);
  t.equal(s.pace.stats.held, 10);
});

t.test('sustained intake never starves delivery: at least minPerWindow starts per window', async (t) => {
  const s = setup({ share: 0, minPerWindow: 2, maxHoldMs: 60_000 });
  s.setUtil(1);
  const perWindow: number[] = [];
  s.pace.accepted(1000);
  s.clock.advance(100);
  s.ask(20);
  for (let w = 0; w < 5; w++) {
    const before = s.started();
    s.pace.accepted(1000);
    s.clock.advance(100);
    await settle();
    perWindow.push(s.started() - before);
  }
  t.same(perWindow, [2, 2, 2, 2, 2], 'share 0 still lets minPerWindow go each window');
  t.equal(s.started(), 12);
});

t.test('no start waits longer than maxHoldMs', async (t) => {
  const s = setup({ share: 0, minPerWindow: 1, maxHoldMs: 250 });
  s.setUtil(1);
  s.pace.accepted(1000);
  s.clock.advance(100);
  s.ask(11); // one goes now, ten wait
  t.equal(s.started(), 1);
  for (let i = 0; i < 2; i++) {
    s.pace.accepted(1000);
    s.clock.advance(100);
  }
  await settle();
  t.equal(s.started(), 3, 'one per window meanwhile');
  s.pace.accepted(1000);
  s.clock.advance(50); // 250 ms since they asked
  await settle();
  t.equal(s.started(), 11, 'every start that waited maxHoldMs went');
  t.equal(s.pace.stats.waiting, 0);
});

t.test('stop lets every waiting start go and holds none after', async (t) => {
  const s = setup({ share: 0, minPerWindow: 1 });
  s.setUtil(1);
  s.pace.accepted(1000);
  s.clock.advance(100);
  s.ask(5);
  t.equal(s.started(), 1);
  s.pace.stop();
  await settle();
  t.equal(s.started(), 5);
  s.pace.accepted(1000);
  s.clock.advance(100);
  s.ask(5);
  t.equal(s.started(), 10);
});
