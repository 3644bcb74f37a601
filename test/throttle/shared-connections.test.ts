import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { testThrottle, throttleParams } from './fixtures.js';
import { BACKOFF_MS, SLOT_TTL_MS, SPARE_KEEP_MS, type SharedConnectionStore } from '../../src/throttle/shared-connections.js';
import { openTestStore, testPg } from '../helpers/postgres.js';

/**
 * Two throttles on one PostgreSQL database are two nodes' gates (issue 14): a destination's
 * connection limit is the cluster's, not each node's. Counted, not timed: each node has its own
 * ManualClock (a dead node's clock stops), and each step waits for the store calls it started.
 */

const PARAMS = throttleParams({ reloadIntervalMs: 3_600_000, persistIntervalMs: 3_600_000 });
const DOMAIN = 'example.test';
const LIMIT = 5;
const START = 1_800_000_000_000;

t.test('two nodes that each want 20 connections to a destination limited to 5 hold 5 between them', async (t) => {
  const { url } = await testPg();
  const stores = [await openTestStore(t, url, 'node-a'), await openTestStore(t, url, 'node-b')];
  await stores[0]!.limits.set(DOMAIN, { perMinute: null, perHour: null, perDay: null, connections: LIMIT, perConnection: null }, START);

  /** Store calls in flight, so that a step can wait for what it started (no sleeps). */
  const inflight = new Set<Promise<unknown>>();
  let takes = 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };
  async function settle(): Promise<void> {
    for (let i = 0; i < 100 && inflight.size > 0; i++) await Promise.allSettled([...inflight]);
    if (inflight.size > 0) t.fail('store calls did not settle');
  }

  const nodes = await Promise.all(
    stores.map(async (s, i) => {
      const clock = new ManualClock(START);
      const owner = `node-${'ab'[i]}`;
      const store: SharedConnectionStore = {
        takeConnection: (...a) => {
          takes++;
          return track(s.limits.takeConnection(...a));
        },
        renewConnections: (...a) => track(s.limits.renewConnections(...a)),
        releaseConnection: (...a) => track(s.limits.releaseConnection(...a)),
        releaseConnectionsOf: (o) => track(s.limits.releaseConnectionsOf(o)),
      };
      let pokes = 0;
      const th = testThrottle({ limits: s.limits, clock, params: PARAMS, connections: { store, owner, poke: () => pokes++ } });
      await th.start();
      return { th, clock, open: 0, pokes: () => pokes };
    }),
  );
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  t.teardown(async () => {
    for (const n of nodes) await n.th.stop();
  });

  /** What a scheduler does at a dispatch pass: open while allowed, else ask for one more slot. */
  function dispatch(n: typeof a, want: number): void {
    while (n.open < want && n.open < n.th.maxConnections(DOMAIN)) {
      n.th.connectionOpened(DOMAIN);
      n.open++;
    }
    if (n.open < want) n.th.wantConnection(DOMAIN);
  }
  async function slotsInDb(): Promise<number> {
    const r = await stores[0]!.pool.query('SELECT count(*)::int AS n FROM connection_slots');
    return (r.rows[0] as { n: number }).n;
  }
  /** Both nodes want `want` connections, round after round (each a back-off apart), until nothing changes. */
  async function rounds(want: [number, number], count = 30): Promise<void> {
    for (let round = 0; round < count; round++) {
      dispatch(a, want[0]);
      dispatch(b, want[1]);
      await settle();
      t.ok(a.open + b.open <= LIMIT, `round ${round}: ${a.open} + ${b.open} connections open, limit ${LIMIT}`);
      dispatch(a, want[0]);
      dispatch(b, want[1]);
      a.clock.advance(BACKOFF_MS);
      b.clock.advance(BACKOFF_MS);
      await settle();
    }
  }

  await rounds([20, 20]);
  t.equal(a.open + b.open, LIMIT, 'together the nodes opened the limit, not more');
  t.ok(a.open > 0 && b.open > 0, `both nodes got connections (${a.open} and ${b.open})`);
  t.equal(await slotsInDb(), LIMIT, 'the cluster holds exactly the limit of slots');
  t.ok(a.pokes() + b.pokes() >= LIMIT, 'each slot taken poked its scheduler');

  // Refused: no more asks until the back-off has passed, however often the scheduler wants.
  const before = takes;
  for (let i = 0; i < 50; i++) {
    dispatch(a, 20);
    dispatch(b, 20);
    await settle();
  }
  t.ok(takes - before <= 2, `at most one ask per node within a back-off (${takes - before})`);
  a.clock.advance(BACKOFF_MS);
  b.clock.advance(BACKOFF_MS);
  await settle();

  // A closes two connections: after the keep moment, their slots go to B, who still wants more.
  const aBefore = a.open;
  const bBefore = b.open;
  const closing = Math.min(2, a.open);
  for (let i = 0; i < closing; i++) {
    a.th.connectionClosed(DOMAIN);
    a.open--;
  }
  t.equal(a.th.connectionSlots!.held(a.th.view(DOMAIN).bucket).spare, closing, 'a closed connection\'s slot is kept a moment');
  await rounds([aBefore - closing, 20], 5);
  t.equal(a.open, aBefore - closing, 'A opened no more');
  t.equal(b.open, bBefore + closing, 'B took the slots A gave back');
  t.equal(await slotsInDb(), LIMIT);

  // Slots held are renewed (at the limit too): after twice the TTL the cluster is still at the limit.
  for (let i = 0; i < 6; i++) {
    a.clock.advance(SLOT_TTL_MS / 3);
    b.clock.advance(SLOT_TTL_MS / 3);
    await settle();
  }
  await rounds([20, 20], 3);
  t.equal(a.open + b.open, LIMIT, 'renewed slots still count: nobody opened more');

  // A dies (its clock and timers stop): B gets A's slots once they expired, no sooner.
  const aHeld = a.open;
  b.open += 0;
  const deadRounds = async (n: number) => {
    for (let i = 0; i < n; i++) {
      dispatch(b, 20);
      await settle();
      dispatch(b, 20);
      b.clock.advance(BACKOFF_MS);
      await settle();
    }
  };
  await deadRounds(3);
  t.equal(b.open, LIMIT - aHeld, 'A\'s slots still count shortly after it died');
  await deadRounds(Math.ceil(SLOT_TTL_MS / BACKOFF_MS) + LIMIT + 2);
  t.equal(b.open, LIMIT, 'A\'s slots expired: B holds the whole limit');
  t.ok((await slotsInDb()) <= LIMIT, 'never more than the limit in the store');

  // B stops: every slot it holds goes back.
  for (let i = 0; i < b.open; i++) b.th.connectionClosed(DOMAIN);
  b.clock.advance(SPARE_KEEP_MS);
  await settle();
  await b.th.stop();
  await settle();
  const left = await stores[0]!.pool.query("SELECT count(*)::int AS n FROM connection_slots WHERE owner = 'node-b'");
  t.equal((left.rows[0] as { n: number }).n, 0, 'a stopped node holds no slots');
});

t.test('on a single node (no shared connections) the limit is counted locally, as before', async (t) => {
  const clock = new ManualClock(START);
  const th = testThrottle({
    limits: { list: async () => [], states: async () => [], saveStates: async () => undefined, dataVersion: async () => 0 },
    clock,
    defaults: { connections: 3, perConnection: 100 },
    params: PARAMS,
  });
  await th.load();
  t.equal(th.maxConnections(DOMAIN), 3);
  th.wantConnection(DOMAIN);
  th.connectionOpened(DOMAIN);
  t.equal(th.maxConnections(DOMAIN), 3, 'one open plus two more');
  t.equal(th.connectionSlots, null);
});
