import t, { type Test } from 'tap';
import { join } from 'node:path';
import { createClassifier } from '../../src/classify/classifier.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRandom } from '../../src/core/random.js';
import type { Store } from '../../src/core/store.js';
import type { Deliverer, OpenSessionResult } from '../../src/deliver/deliverer.js';
import type { OutgoingMessage } from '../../src/deliver/types.js';
import { createOutcomeApplier } from '../../src/outcome/apply.js';
import { createFate } from '../../src/outcome/fate.js';
import { createSpool } from '../../src/spool/spool.js';
import { openDatabase } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { createScheduler, type Scheduler } from '../../src/workers/scheduler.js';
import { RETRY } from '../helpers/fate.js';
import { livenessBound } from '../helpers/liveness.js';
import { openTestStore, testPg } from '../helpers/postgres.js';
import { tempDir } from '../helpers/relay.js';
import { message } from '../store/contract/fixtures.js';
import { acceptingSession } from './fixtures.js';

/*
 * Two nodes (two schedulers, two owner names) on one store. Node A's transfer takes longer than
 * the lease — five leases — and node B, claiming all the while, must not take the recipient:
 * A renews it. The control: when A renews too late (its lease runs out first), B does take it,
 * and A's late outcome is not written over B's claim.
 */

t.setTimeout(600_000);

const T0 = 1_760_000_000_000;
const LEASE = 30_000;

/** Polls (real time) until `fn` holds; fails after the liveness bound. */
async function waitFor(fn: () => boolean | Promise<boolean>, o: { what: string }): Promise<void> {
  const deadline = Date.now() + livenessBound(0);
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A deliverer double: every transfer waits until the test lets it finish (then accepted). */
function deliverer(name: string, hold: boolean) {
  const sent: OutgoingMessage[] = [];
  const waiting: (() => void)[] = [];
  const d: Deliverer = {
    openSession(domain): Promise<OpenSessionResult> {
      const session = acceptingSession(domain, {
        t0: T0,
        sent,
        text: `ok from ${name}`,
        ...(hold ? { before: () => new Promise<void>((resolve) => waiting.push(resolve)) } : {}),
      });
      return Promise.resolve({ ok: true, session, tries: [] });
    },
  };
  return { deliverer: d, sent, finish: () => waiting.splice(0).forEach((f) => f()) };
}

function node(t: Test, store: Store, owner: string, clock: ManualClock, d: Deliverer, renewEveryMs: number, maxInFlight?: number, connections = 2) {
  const fate = createFate({
    fates: store.fates,
    classifier: createClassifier(),
    retry: RETRY,
    clock,
    random: seededRandom(1),
    logger: silentLogger(),
    mailboxFullSince: () => null,
    dsn: null,
  });
  let claims = 0;
  const scheduler: Scheduler = createScheduler({
    store: {
      messages: store.messages,
      recipients: {
        claim: (...a) => store.recipients.claim(...a).finally(() => claims++),
        releaseMany: (items) => store.recipients.releaseMany(items),
        nextDueAt: () => store.recipients.nextDueAt(),
        renew: (...a) => store.recipients.renew(...a),
      },
    },
    spool: createSpool({ dir: join(tempDir(t), 'spool'), inlineMaxBytes: 1 << 20 }),
    deliverer: d,
    outcome: createOutcomeApplier({ fate }),
    clock,
    logger: silentLogger(),
    owner,
    concurrency: 4,
    leaseMs: LEASE,
    renewEveryMs,
    gate: { maxConnections: () => connections, messagesPerConnection: () => 100, takeMessage: () => null },
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
  });
  t.teardown(async () => {
    const stopping = scheduler.stop(1000);
    clock.advance(1000);
    await stopping;
  });
  return { scheduler, claims: () => claims };
}

const engines: { name: string; open(t: Test): Promise<[Store, Store]> }[] = [
  {
    name: 'sqlite (one store, two owners)',
    async open(t) {
      const store = createInProcessSqliteStore(openDatabase({ file: join(tempDir(t), 'ferry.db') }));
      t.teardown(() => store.close());
      return [store, store];
    },
  },
  {
    name: 'postgres (two nodes on one database)',
    async open(t) {
      const { url } = await testPg();
      return [await openTestStore(t, url, 'node-a'), await openTestStore(t, url, 'node-b')];
    },
  },
];

for (const engine of engines) {
  t.test(engine.name, async (t) => {
    await t.test('a transfer five leases long is not claimed by the second node', async (t) => {
      const [sa, sb] = await engine.open(t);
      const clock = new ManualClock(T0);
      const slow = deliverer('A', true);
      const fast = deliverer('B', false);
      const a = node(t, sa, 'node-a', clock, slow.deliverer, LEASE / 3);
      const m = message({ recipients: ['slow@far.test'], at: T0 });
      await sa.queue.accept([m]);
      a.scheduler.start();
      await waitFor(() => slow.sent.length === 1, { what: 'node A starts the transfer' });
      const b = node(t, sb, 'node-b', clock, fast.deliverer, LEASE / 3);
      b.scheduler.start();
      // Five leases in steps of a renewal period: each step A renews (and B looks for due work).
      for (let step = 0; step < 15; step++) {
        const renewals = a.scheduler.stats.leases.renewals;
        const claims = b.claims();
        clock.advance(LEASE / 3);
        await waitFor(() => a.scheduler.stats.leases.renewals > renewals && b.claims() > claims, { what: `renewal and claim at step ${step}` });
      }
      t.equal(fast.sent.length, 0, 'node B never sent it');
      t.equal(slow.sent.length, 1, 'nor did node A claim it again for a second transfer');
      t.equal(a.scheduler.stats.leases.lost, 0, 'node A never lost it');
      const [row] = await sa.recipients.forMessage(m.message.id);
      t.ok(row!.leaseUntil! > clock.now(), 'the lease still runs while the transfer does');
      slow.finish();
      await waitFor(async () => (await sa.recipients.forMessage(m.message.id))[0]!.status === 'delivered', { what: "A's outcome recorded" });
      const [done] = await sb.recipients.forMessage(m.message.id);
      t.same([done!.status, done!.lastReply, done!.attempts], ['delivered', '250 2.0.0 ok from A', 1], 'delivered once, by A');
      t.equal(a.scheduler.stats.leases.renewals >= 15, true, 'renewed at every step');
    });

    await t.test('control: a lease renewed too late is claimed by the second node, and the first node does not write over it', async (t) => {
      const [sa, sb] = await engine.open(t);
      const clock = new ManualClock(T0);
      const slow = deliverer('A', true);
      const fast = deliverer('B', false);
      // Renewals every two leases: the lease runs out between them. A holds one recipient at most
      // (so the expired lease goes to B, not back to A itself: both would be duplicates).
      const a = node(t, sa, 'node-a', clock, slow.deliverer, 2 * LEASE, 1);
      const m = message({ recipients: ['slow@far.test'], at: T0 });
      await sa.queue.accept([m]);
      a.scheduler.start();
      await waitFor(() => slow.sent.length === 1, { what: 'node A starts the transfer' });
      const b = node(t, sb, 'node-b', clock, fast.deliverer, LEASE / 3);
      b.scheduler.start();
      for (let step = 0; step < 6 && fast.sent.length === 0; step++) {
        const claims = b.claims();
        clock.advance(LEASE / 3);
        await waitFor(() => b.claims() > claims, { what: `claim at step ${step}` });
        // A claim that took the recipient: let B send it before the clock moves again (moving it
        // on while the send is in flight runs out B's own lease, and B claims it a second time).
        await waitFor(() => fast.sent.length > 0 || b.scheduler.stats.inFlight === 0, { what: `B's claim at step ${step} settled` });
      }
      await waitFor(async () => (await sb.recipients.forMessage(m.message.id))[0]!.status === 'delivered', { what: "B's outcome recorded" });
      t.equal(fast.sent.length, 1, 'node B took the recipient once the lease ran out (the duplicate renewal prevents)');
      t.equal(slow.sent.length, 1, 'node A sent it once');
      slow.finish();
      await waitFor(() => a.scheduler.stats.inFlight === 0, { what: "A's transfer finished" });
      const [done] = await sa.recipients.forMessage(m.message.id);
      t.same([done!.status, done!.lastReply, done!.attempts], ['delivered', '250 2.0.0 ok from B', 1], "B's outcome stands: A's late one was not written over it");
    });

    await t.test('a recipient whose lease was taken while it waited for a connection is not sent', async (t) => {
      const [sa, sb] = await engine.open(t);
      const clock = new ManualClock(T0);
      const slow = deliverer('A', true);
      // One connection: the second message waits in memory behind the first one's long transfer.
      const a = node(t, sa, 'node-a', clock, slow.deliverer, LEASE / 3, undefined, 1);
      const first = message({ recipients: ['one@far.test'], at: T0 });
      const second = message({ recipients: ['two@far.test'], at: T0 });
      await sa.queue.accept([first, second]);
      a.scheduler.start();
      await waitFor(() => slow.sent.length === 1 && a.scheduler.stats.inFlight === 2, { what: 'A sends the first and holds the second' });
      // The second's lease goes to node-b behind A's back (as if it had run out and B claimed it).
      const [two] = await sb.recipients.forMessage(second.message.id);
      await sb.recipients.releaseMany([{ id: two!.id, at: T0 }]);
      t.same((await sb.recipients.claim(T0, T0 + 10 * LEASE, 'node-b', 10)).map((r) => r.id), [two!.id], 'node-b holds the second now');
      const renewals = a.scheduler.stats.leases.renewals;
      clock.advance(LEASE / 3);
      await waitFor(() => a.scheduler.stats.leases.renewals > renewals, { what: "A's renewal" });
      t.equal(a.scheduler.stats.leases.lost, 1, 'A learns at its renewal that it no longer holds the second');
      t.equal(a.scheduler.stats.inFlight, 1, 'and forgets it');
      slow.finish();
      await waitFor(async () => (await sa.recipients.forMessage(first.message.id))[0]!.status === 'delivered' && a.scheduler.stats.inFlight === 0, { what: 'the first delivered' });
      t.same(slow.sent.map((m) => m.to), [['one@far.test']], 'A never sent the second over its connection');
      const [still] = await sb.recipients.forMessage(second.message.id);
      t.same([still!.status, still!.attempts, still!.leaseUntil], ['queued', 0, T0 + 10 * LEASE], "node-b's claim untouched");
    });
  });
}
