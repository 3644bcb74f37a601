import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDiskGuard, formatBytes } from '../../src/ops/disk-guard.js';

const GiB = 1024 ** 3;

function setup(free: { bytes: number }, thresholds = { minFreeBytes: 2 * GiB, minFreePercent: 0, checkIntervalMs: 10_000 }) {
  const clock = new ManualClock();
  let fail = false;
  const guard = createDiskGuard({
    path: '/data',
    thresholds,
    clock,
    logger: silentLogger(),
    measure: async () => {
      if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return { freeBytes: free.bytes, totalBytes: 100 * GiB };
    },
  });
  return { clock, guard, failNext: (v: boolean) => (fail = v) };
}

/** Lets the guard's measurement promise settle after a timer fired. */
const settle = () => new Promise((r) => setImmediate(r));

t.test('refuses below the byte floor and resumes by itself on the next check once space is back', async (t) => {
  const free = { bytes: 1 * GiB };
  const { clock, guard } = setup(free);
  await guard.start();
  t.teardown(() => guard.stop());
  t.equal(guard.accepting(), false);
  t.match(guard.state().reason, /1\.0 GiB free on the data directory disk, below disk\.minFreeBytes \(2\.0 GiB\)/);

  free.bytes = 3 * GiB;
  clock.advance(9_999);
  await settle();
  t.equal(guard.accepting(), false, 'not measured again before the interval');
  clock.advance(1);
  await settle();
  t.equal(guard.accepting(), true, 'space is back: accepting again without anyone asking');
  t.equal(guard.state().freeBytes, 3 * GiB);

  free.bytes = 0;
  clock.advance(10_000);
  await settle();
  t.equal(guard.accepting(), false, 'and refuses again when it runs out');
});

t.test('the percentage floor; update() applies new thresholds at once', async (t) => {
  const free = { bytes: 5 * GiB };
  const { guard } = setup(free, { minFreeBytes: 0, minFreePercent: 10, checkIntervalMs: 10_000 });
  await guard.start();
  t.teardown(() => guard.stop());
  t.equal(guard.accepting(), false);
  t.match(guard.state().reason, '5.0% free on the data directory disk, below disk.minFreePercent (10%)');
  const s = await guard.update({ minFreeBytes: 0, minFreePercent: 5, checkIntervalMs: 1000 });
  t.equal(s.accepting, true);
});

t.test('a failed measurement keeps the last verdict', async (t) => {
  const free = { bytes: 1 * GiB };
  const { guard, failNext } = setup(free);
  await guard.start();
  t.teardown(() => guard.stop());
  failNext(true);
  free.bytes = 10 * GiB;
  await guard.check();
  t.equal(guard.accepting(), false, 'still refusing: no evidence that space is back');
});

t.test('stop() cancels the timer', async (t) => {
  const free = { bytes: 1 * GiB };
  const { clock, guard } = setup(free);
  await guard.start();
  guard.stop();
  free.bytes = 10 * GiB;
  clock.advance(60_000);
  await settle();
  t.equal(guard.accepting(), false);
});

t.test('formatBytes', async (t) => {
  t.equal(formatBytes(512), '512 B');
  t.equal(formatBytes(1536), '1.5 KiB');
  t.equal(formatBytes(256 * 1024 * 1024), '256.0 MiB');
});
