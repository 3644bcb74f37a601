import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { runFerry } from '../helpers/cli.js';
import { setupDelivery } from './fixtures/delivery.js';
import { sendEach, settled, statusCounts } from '../throttle/fixtures.js';

t.test('a limit set with the ferry command applies to a running relay within seconds', async (t) => {
  // The ferry command runs on the real clock: start the relay's injected clock at real time.
  const clock = new ManualClock(Date.now());
  const { mx, ferry, relay } = await setupDelivery(t, { clock, mx: { tls: false } });
  const env = { FERRY_DATA_DIR: relay.dataDir };
  const ferryCmd = async (...args: string[]) => {
    const r = await runFerry(args, { env });
    t.equal(r.code, 0, `ferry ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  await sendEach(relay, ['a0@example.test', 'a1@example.test', 'a2@example.test'], 1);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 3, 'no limit yet');

  t.match(await ferryCmd('limits', 'set', 'Example.TEST', '--per-minute', '5'), /added limit example\.test: 5 per minute/);
  clock.advance(2_000); // the relay looks every limits.reloadIntervalMs (2 s)
  await sendEach(relay, ['b0@example.test', 'b1@example.test', 'b2@example.test', 'b3@example.test'], 1);
  await settled(ferry, clock.now());
  t.equal(mx!.messages.length, 5, 'now 5 per minute: 3 already sent, 2 more, the rest wait');
  t.same(statusCounts(ferry), { delivered: 5, queued: 2 });

  clock.advance(5_000);
  const list = await ferryCmd('limits', 'list');
  t.match(list, /example\.test\s*│\s*5\s*│\s*-\s*│\s*-\s*│\s*\(20\)/, 'the configured row, inherited values in brackets');
  t.match(list, /example\.test\s*│\s*example\.test\s*│\s*5\s*│\s*5\/5\s*│\s*5\s*│\s*5\s*│\s*0\/20/, 'usage: 5 of 5 in the last minute');

  // Raising the limit releases the waiting mail at once (not at the old limit's due time).
  t.match(await ferryCmd('limits', 'set', 'example.test', '--per-minute', '100', '--connections', '3'), /changed limit example\.test: 100 per minute/);
  clock.advance(2_000);
  await settled(ferry, clock.now());
  t.same(statusCounts(ferry), { delivered: 7 }, 'the waiting two went out after the reload');

  t.match(await ferryCmd('limits', 'remove', 'example.test'), /removed limit example\.test/);
  const missing = await runFerry(['limits', 'remove', 'example.test'], { env });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no limit for example\.test/);
});
