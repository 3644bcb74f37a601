import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createLimitsRepo } from '../../src/store/limits-repo.js';
import { WindowSet } from '../../src/throttle/window.js';
import { setupDelivery } from './fixtures/delivery.js';
import { dataDirWithLimits, savedBudget, sendEach, settled, statusCounts } from '../throttle/fixtures.js';

t.test('two domains whose MX hosts share a suffix share one budget (learned through DNS)', async (t) => {
  const clock = new ManualClock();
  const dataDir = dataDirWithLimits(t, { 'mx:provider.test': { perMinute: 4, connections: 1 } });
  const zone = {
    'a.test': { MX: [{ exchange: 'mx1.provider.test', priority: 10 }] },
    'b.test': { MX: [{ exchange: 'mx2.eu.provider.test', priority: 10 }] },
    'c.test': { MX: [{ exchange: 'mx.other.test', priority: 10 }] },
    'mx1.provider.test': { A: ['127.0.0.2'] },
    'mx2.eu.provider.test': { A: ['127.0.0.2'] },
    'mx.other.test': { A: ['127.0.0.2'] },
  };
  const { mx, ferry, relay, dns } = await setupDelivery(t, { clock, zone, mx: { tls: false }, config: { dataDir } });

  await sendEach(relay, ['a1@a.test', 'b1@b.test', 'a2@a.test', 'b2@b.test', 'a3@a.test', 'b3@b.test', 'c1@c.test', 'c2@c.test'], 1);
  await settled(ferry, clock.now());
  const delivered = (domain: string) => mx!.messages.filter((m) => m.envelope.to[0]!.endsWith(`@${domain}`)).length;
  t.equal(delivered('a.test') + delivered('b.test'), 4, 'a.test and b.test together get the 4 per minute of mx:provider.test');
  t.ok(delivered('a.test') >= 1 && delivered('b.test') >= 1, 'neither domain of the group starves the other');
  t.equal(delivered('c.test'), 2, 'c.test (another provider) is not held back by the group');
  t.same(statusCounts(ferry), { delivered: 6, queued: 2 });
  t.ok(dns.queries.some((q) => q.name === 'a.test' && q.type === 'MX'));

  clock.advance(5_000); // the state is saved every 5 s of (injected) clock
  await savedBudget(ferry, 'mx:provider.test', () => true, 'a row');
  const state = createLimitsRepo(ferry.db).states();
  const group = state.find((s) => s.bucket === 'mx:provider.test');
  t.ok(group, 'one budget row for the whole group');
  t.equal(group!.target, 'mx:provider.test');
  t.equal(WindowSet.parse(group!.windows, clock.now()).used(clock.now()).minute, 4);
  t.notOk(state.some((s) => s.bucket === 'a.test' || s.bucket === 'b.test'), 'no per-domain budgets for the group\'s domains');

  clock.advance(56_000);
  await settled(ferry, clock.now());
  t.same(statusCounts(ferry), { delivered: 8 }, 'the next minute carries the rest');
});
