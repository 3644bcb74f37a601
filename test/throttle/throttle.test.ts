import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { DnsResolver, MxRecord } from '../../src/core/resolver.js';
import { createLogger } from '../../src/core/logger.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createLimitsRepo, type LimitFields } from '../../src/store/limits-repo.js';
import { createThrottle } from '../../src/throttle/throttle.js';
import { throttleParams } from './fixtures.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';

const PARAMS = throttleParams();
/** Lets the store's promises (in-process: already settled) and their continuations run. */
const settle = () => new Promise((r) => setImmediate(r));
const NONE: LimitFields = { perMinute: null, perHour: null, perDay: null, connections: null, perConnection: null };

/** A resolver double with the real interface: MX answers from a table, anything else fails. */
function resolver(mx: Record<string, string[]>, log: string[] = []): DnsResolver {
  const fail = (what: string) => Promise.reject(Object.assign(new Error(`${what}: not in the test zone`), { code: 'ENOTFOUND' }));
  return {
    resolveMx: (d) => {
      log.push(d);
      return mx[d] ? Promise.resolve(mx[d]!.map((exchange, i): MxRecord => ({ exchange, priority: 10 + i }))) : fail(d);
    },
    resolve4: (h) => fail(h),
    resolve6: (h) => fail(h),
    resolveTxt: (n) => fail(n),
    reverse: (ip) => fail(ip),
  };
}

function setup(t: Test, limits: Record<string, Partial<LimitFields>>, mx: Record<string, string[]> = {}, lookups: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-throttle-'));
  const dbs: Db[] = [];
  t.teardown(() => {
    for (const d of dbs) if (d.open) d.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = () => {
    const db = openDatabase({ file: join(dir, 'ferry.db') });
    dbs.push(db);
    return db;
  };
  const db = open();
  const repo = createLimitsRepo(db);
  for (const [target, f] of Object.entries(limits)) repo.set(target, { ...NONE, ...f }, 0);
  const clock = new ManualClock();
  let changed = 0;
  // The throttle reads and writes through the Store (in-process SQLite engine); load() reads the limits and saved budgets.
  const store = createInProcessSqliteStore(db);
  const make = async () => {
    const th = createThrottle({
      limits: store.limits,
      resolver: resolver(mx, lookups),
      clock,
      logger: createLogger('silent'),
      defaults: { connections: 10, perConnection: 100 },
      params: PARAMS,
      onLimitsChanged: () => changed++,
    });
    await th.load();
    return th;
  };
  return { db, open, repo, clock, make, changed: () => changed };
}

t.test('takeMessage, readyAt and releaseTimes follow the per-minute budget', async (t) => {
  const { clock, make } = setup(t, { 'example.com': { perMinute: 3 } });
  const th = await make();
  const now = clock.now();
  t.equal(th.readyAt('example.com', now), null);
  t.equal(th.takeMessage('example.com', now), null);
  t.equal(th.takeMessage('example.com', now), null);
  t.equal(th.takeMessage('example.com', now), null);
  t.equal(th.takeMessage('example.com', now), now + 61_000, 'the fourth waits for the first slot to be a minute old');
  t.equal(th.readyAt('example.com', now), now + 61_000);
  t.same(th.releaseTimes('example.com', now, 5), [now + 61_000, now + 61_000, now + 61_000, now + 122_000, now + 122_000], 'spread, three a minute');
  t.equal(th.readyAt('other.com', now), null, 'a domain without a limit never waits');
  t.same(th.view('example.com').used, { minute: 3, hour: 3, day: 3 });
});

t.test('precedence and inheritance: domain, then MX suffix, then default; unset fields from default', async (t) => {
  const lookups: string[] = [];
  const { make } = setup(
    t,
    { default: { perHour: 500, connections: 3 }, 'gmail.com': { perMinute: 10 }, 'mx:google.com': { perMinute: 20, connections: 5 }, 'mx:l.google.com': { perMinute: 30 } },
    { 'gmail.com': ['gmail-smtp-in.l.google.com'], 'corp.example': ['aspmx.l.google.com.'], 'other.example': ['mx.other.example'], 'g2.example': ['alt.google.com'] },
    lookups,
  );
  const th = await make();
  t.equal(th.learn('gmail.com'), null, 'a domain with its own rule needs no MX lookup');
  for (const d of ['corp.example', 'other.example', 'g2.example', 'nxdomain.example']) await th.learn(d);
  t.same(lookups.sort(), ['corp.example', 'g2.example', 'nxdomain.example', 'other.example']);
  t.equal(th.learn('corp.example'), null, 'cached');

  t.match(th.view('gmail.com'), { bucket: 'gmail.com', target: 'gmail.com', rates: { minute: 10, hour: 500, day: null } });
  t.match(th.view('corp.example'), { bucket: 'mx:l.google.com', target: 'mx:l.google.com', rates: { minute: 30, hour: 500 } }, 'the longest suffix wins');
  t.match(th.view('g2.example'), { bucket: 'mx:google.com', rates: { minute: 20 } });
  t.match(th.view('other.example'), { bucket: 'other.example', target: 'default', rates: { minute: null, hour: 500 } }, 'default: a budget per domain');
  t.match(th.view('nxdomain.example'), { bucket: 'nxdomain.example', target: 'default' }, 'a failed lookup: the domain\'s own default budget');
  t.equal(th.maxConnections('g2.example'), 5);
  t.equal(th.maxConnections('other.example'), 3, 'connections inherited from default');
  t.equal(th.messagesPerConnection('other.example'), 100, 'built-in');
});

t.test('a shared MX budget: one rate and one connection cap for all its domains', async (t) => {
  const { clock, make } = setup(t, { 'mx:provider.test': { perMinute: 2, connections: 2 } }, { 'a.test': ['mx1.provider.test'], 'b.test': ['mx2.provider.test'] });
  const th = await make();
  await th.learn('a.test');
  await th.learn('b.test');
  const now = clock.now();
  t.equal(th.takeMessage('a.test', now), null);
  t.equal(th.takeMessage('b.test', now), null);
  t.equal(th.takeMessage('a.test', now), now + 61_000, 'a.test is out: b.test used the shared budget');

  t.equal(th.maxConnections('a.test'), 2);
  th.connectionOpened('a.test');
  th.connectionOpened('b.test');
  t.equal(th.maxConnections('a.test'), 1, 'a.test may keep its own connection, and no more');
  t.equal(th.maxConnections('b.test'), 1);
  th.connectionClosed('b.test');
  t.equal(th.maxConnections('a.test'), 2);
  t.equal(th.maxConnections('b.test'), 1);
  th.connectionClosed('a.test');
  th.connectionClosed('a.test'); // an extra close is harmless
  t.equal(th.view('a.test').connections, 0);
});

t.test('limits changed in the database (another connection) are picked up on the next reload', async (t) => {
  const { open, clock, make, changed } = setup(t, { 'example.com': { perMinute: 1 } });
  const th = await make();
  await th.start();
  t.teardown(() => th.stop());
  const now = clock.now();
  t.equal(th.takeMessage('example.com', now), null);
  t.not(th.takeMessage('example.com', now), null);

  const cli = createLimitsRepo(open()); // what `ferry limits set` does, from its own connection
  cli.set('example.com', { ...NONE, perMinute: 5 }, now);
  t.not(th.readyAt('example.com', now), null, 'not before the reload');
  clock.advance(2_000);
  await settle();
  t.equal(th.readyAt('example.com', clock.now()), null, 'within one reload interval');
  t.equal(changed(), 1, 'the relay is told, so it can re-due held mail');
  clock.advance(2_000);
  await settle();
  t.equal(changed(), 1, 'no change, no reload');
  t.equal(await th.reloadLimits(), false, 'forced: read again, nothing changed');
});

t.test('limitsChanged (a limit set in the console): the limits are read again at once, not at the next interval', async (t) => {
  const { repo, clock, make, changed } = setup(t, { 'example.com': { perMinute: 1 } });
  const th = await make();
  const now = clock.now();
  t.equal(th.takeMessage('example.com', now), null);
  t.not(th.readyAt('example.com', now), null, 'the one send of the minute is taken');
  repo.set('example.com', { ...NONE, perMinute: 5 }, now);
  th.limitsChanged();
  for (let i = 0; i < 10 && changed() === 0; i++) await settle();
  t.equal(changed(), 1, 'read again without the clock moving');
  t.equal(th.readyAt('example.com', now), null, 'the new limit applies');
});

t.test('budget and slow-down state persist: a new throttle on the same database goes on where it stopped', async (t) => {
  const { db, clock, make } = setup(t, { 'example.com': { perDay: 3, perMinute: 40 } });
  const first = await make();
  await first.start();
  const now = clock.now();
  for (let i = 0; i < 3; i++) t.equal(first.takeMessage('example.com', now), null);
  first.rateLimited('example.com', '421 4.7.0 slow down');
  await first.stop();
  const row = createLimitsRepo(db).states().find((s) => s.bucket === 'example.com')!;
  t.equal(row.slowPerMinute, 20);

  clock.advance(120_000); // within the cool-down
  const second = await make();
  t.equal(second.takeMessage('example.com', clock.now()), now + 86_400_000 + 1_440_000, 'the day\'s 3 are spent: the next waits until the first slot is a day old');
  t.match(second.view('example.com').slow, { perMinute: 20, restoreTo: 40 });
});

t.test('slow-down: halves, once per burst, floor 1, then doubles back in steps', async (t) => {
  const { clock, make } = setup(t, { 'example.com': { perMinute: 6 } });
  const th = await make();
  const t0 = clock.now();
  th.rateLimited('example.com', 'x');
  t.equal(th.view('example.com').effectivePerMinute, 3);
  th.rateLimited('example.com', 'x');
  t.equal(th.view('example.com').effectivePerMinute, 3, 'the same burst halves once');
  clock.advance(60_000);
  th.rateLimited('example.com', 'x');
  t.equal(th.view('example.com').effectivePerMinute, 1);
  clock.advance(60_000);
  th.rateLimited('example.com', 'x');
  t.equal(th.view('example.com').effectivePerMinute, 1, 'never below 1 per minute');
  const until = th.view('example.com').slow!.until;
  t.equal(until, t0 + 120_000 + 600_000);
  clock.advance(until - clock.now() - 1);
  t.equal(th.view('example.com').effectivePerMinute, 1, 'held through the cool-down');
  clock.advance(1);
  t.equal(th.view('example.com').effectivePerMinute, 2, 'first step at the end of the cool-down');
  clock.advance(300_000);
  t.equal(th.view('example.com').effectivePerMinute, 4);
  clock.advance(300_000);
  t.equal(th.view('example.com').effectivePerMinute, 6, 'back at the configured rate');
  t.equal(th.view('example.com').slow, null);
});
