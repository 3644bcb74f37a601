import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Deliverer, OpenSessionResult } from '../../src/deliver/deliverer.js';
import type { OutgoingMessage } from '../../src/deliver/types.js';
import { createSpool } from '../../src/spool/spool.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore, type QueueStore } from '../../src/store/queue-store.js';
import { createScheduler, type Scheduler } from '../../src/workers/scheduler.js';
import type { DestinationGate } from '../../src/workers/destination.js';
import { countingDb } from '../helpers/counting-db.js';
import { fateFor } from '../helpers/fate.js';
import { acceptingSession } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1);

/** A deliverer double implementing the real interface: every recipient accepted, or as told. */
function fakeDeliverer(behaviour: { open?: (domain: string, signal?: AbortSignal) => Promise<OpenSessionResult> } = {}) {
  const sent: OutgoingMessage[] = [];
  let opened = 0;
  const deliverer: Deliverer = {
    openSession(domain, signal) {
      opened++;
      if (behaviour.open) return behaviour.open(domain, signal);
      const session = acceptingSession(domain, { t0: T0, sent });
      return Promise.resolve({ ok: true, session, tries: [] });
    },
  };
  return { deliverer, sent, opened: () => opened };
}

function setup(t: Test, deliverer: Deliverer, opts: { maxInFlight?: number; idleConnectionMs?: number; gate?: DestinationGate } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sched-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const clock = new ManualClock(T0);
  const { db: counting, transactions } = countingDb(db);
  const queue = createQueueStore(counting);
  const { outcome, store } = fateFor(counting, { clock });
  let claims = 0;
  const claim = store.recipients.claim.bind(store.recipients);
  const scheduler: Scheduler = createScheduler({
    store: {
      messages: store.messages,
      recipients: {
        claim: (...a) => {
          claims++;
          return claim(...a);
        },
        releaseMany: (items) => store.recipients.releaseMany(items),
        nextDueAt: () => store.recipients.nextDueAt(),
        renew: (...a) => store.recipients.renew(...a),
      },
    },
    spool: createSpool({ dir: join(dir, 'spool'), inlineMaxBytes: 1 << 20 }),
    deliverer,
    outcome,
    clock,
    logger: silentLogger(),
    owner: 'node-1',
    concurrency: 10,
    leaseMs: 600_000,
    gate: opts.gate ?? { maxConnections: () => 2, messagesPerConnection: () => 100, takeMessage: () => null },
    maxInFlight: opts.maxInFlight,
    ...(opts.idleConnectionMs !== undefined ? { idleConnectionMs: opts.idleConnectionMs } : {}),
  });
  t.teardown(async () => {
    const stopping = scheduler.stop(1000);
    clock.advance(1000);
    await stopping;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, queue, clock, scheduler, claims: () => claims, transactions };
}

let seq = 0;
function enqueue(q: QueueStore, to: string[], at = T0): string {
  const id = `M${++seq}`;
  const headers = Buffer.from('Subject: x\r\n\r\n');
  q.accept([{
    message: { id, createdAt: at, sender: 's@ferry.test', username: null, clientIp: null, helo: null, tls: null, size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
    recipients: to.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
  }]);
  return id;
}

const settle = () => new Promise((r) => setTimeout(r, 30));

t.test('nothing due: the scheduler sleeps until the idle wake (5 s), then delivers when the time comes', async (t) => {
  const fake = fakeDeliverer();
  const s = setup(t, fake.deliverer);
  const ids = Array.from({ length: 1000 }, (_, i) => enqueue(s.queue, [`r${i}@far.test`]));
  // all deferred for an hour
  const rows = s.queue.recipients.claim(T0, T0, 'x', 2000);
  for (const r of rows) s.queue.recipients.changeStatus(r.id, { status: 'deferred', at: T0, nextAttemptAt: T0 + 3_600_000, attempted: true });
  const before = s.claims();
  s.scheduler.start();
  // Claims and the next due time are answered by the store asynchronously: each second's wake is
  // armed once the answer is in, before the clock moves on.
  for (let i = 0; i < 60; i++) {
    s.clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  await settle();
  t.equal(s.claims() - before, 1 + 12, 'one look at start, then one per 5 s: no spinning');
  t.equal(fake.opened(), 0);
  s.clock.advance(3_600_000 - 60_000);
  await settle();
  for (let i = 0; i < 500 && fake.sent.length < 1000; i++) await settle();
  await settle();
  t.equal(fake.sent.length, 1000, 'delivered once due');
  t.ok(ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'delivered'));
});

t.test('at the in-flight bound, due rows do not make the scheduler spin', async (t) => {
  const pending: ((r: OpenSessionResult) => void)[] = [];
  const fake = fakeDeliverer({
    open: (_d, signal) =>
      new Promise((resolve) => {
        pending.push(resolve);
        signal?.addEventListener('abort', () => resolve({ ok: false, permanent: false, reason: 'aborted', tries: [], error: { kind: 'local', message: 'aborted' } }));
      }),
  });
  const s = setup(t, fake.deliverer, { maxInFlight: 2 });
  for (let i = 0; i < 5; i++) enqueue(s.queue, [`r${i}@slow.test`]);
  s.scheduler.start();
  await settle();
  t.equal(s.scheduler.stats.inFlight, 2);
  const before = s.claims();
  // with a timer at 0 ms for the due rows this advance would never return
  s.clock.advance(10_000);
  t.ok(s.claims() - before <= 2, `${s.claims() - before} claims in 10 s at the bound`);
  t.equal(s.scheduler.stats.inFlight, 2);
});

t.test('a gate that holds no connection slot: no connection opens, the gate is asked for one, and once it has it the mail goes', async (t) => {
  const fake = fakeDeliverer();
  let spare = 0;
  let open = 0;
  let maxOpen = 0;
  let wants = 0;
  const gate: DestinationGate = {
    maxConnections: () => open + spare,
    messagesPerConnection: () => 100,
    takeMessage: () => null,
    connectionOpened: () => {
      spare--;
      open++;
      maxOpen = Math.max(maxOpen, open);
    },
    connectionClosed: () => {
      open--;
    },
    wantConnection: () => {
      wants++;
    },
  };
  const s = setup(t, fake.deliverer, { gate });
  const ids = Array.from({ length: 3 }, (_, i) => enqueue(s.queue, [`r${i}@slots.test`]));
  s.scheduler.start();
  for (let i = 0; i < 500 && wants === 0; i++) await settle();
  t.ok(wants > 0, 'the gate was asked for a slot');
  t.equal(fake.opened(), 0, 'no connection without a slot');
  spare = 1;
  s.scheduler.poke();
  for (let i = 0; i < 500 && !ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'delivered'); i++) await settle();
  t.ok(ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'delivered'), 'delivered on the one slot');
  t.equal(maxOpen, 1, 'never more connections than slots');
});

t.test('a destination that cannot be reached: all its messages deferred in one commit', async (t) => {
  const fake = fakeDeliverer({
    open: async () => ({
      ok: false,
      permanent: false,
      reason: 'all_hops_failed',
      tries: [{ host: 'mx.down.test', ip: '127.0.0.9', port: 25, preference: 10, startedAt: T0, durationMs: 1, result: 'connect_failed', error: { kind: 'connect', message: 'ECONNREFUSED' } }],
      error: { kind: 'connect', message: 'no mail server of down.test took a session' },
    }),
  });
  const s = setup(t, fake.deliverer);
  const ids = Array.from({ length: 50 }, (_, i) => enqueue(s.queue, [`r${i}@down.test`]));
  const before = s.transactions() - s.claims();
  s.scheduler.start();
  for (let i = 0; i < 100 && !ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'deferred'); i++) await settle();
  await settle();
  t.ok(ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'deferred'));
  t.ok(fake.opened() <= 2, 'at most the gate’s connections tried');
  t.equal(s.transactions() - s.claims() - before, 1, 'one outcome commit for 50 messages');
  t.equal(s.queue.recipients.forMessage(ids[0]!)[0]!.nextAttemptAt, T0 + 300_000);
});

/** Waits (real time, bounded) until cond holds; fails the test if it never does. */
async function until(t: Test, cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await settle();
  t.ok(cond(), what);
}

for (const idleConnectionMs of [0, 60_000]) {
  t.test(`the next message to a destination after its connection ran out of mail (idleConnectionMs ${idleConnectionMs})`, async (t) => {
    const fake = fakeDeliverer();
    const s = setup(t, fake.deliverer, { idleConnectionMs });
    enqueue(s.queue, ['a@idle.test']);
    s.scheduler.start();
    await until(t, () => fake.sent.length === 1, 'the first message went');
    enqueue(s.queue, ['b@idle.test']);
    s.scheduler.poke();
    await until(t, () => fake.sent.length === 2, 'the second message went');
    if (idleConnectionMs === 0) t.equal(fake.opened(), 2, 'no idle time: a connection per batch');
    else {
      t.equal(fake.opened(), 1, 'the idle connection took it (no new session)');
      // stop ends the idle wait at once: nothing here moves the clock to the deadline
      await s.scheduler.stop(600_000);
      t.equal(s.scheduler.stats.connections, 0, 'the idle connection closed at stop');
    }
  });
}

t.test('an idle connection makes way when another destination waits for a connection', async (t) => {
  const fake = fakeDeliverer();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sched-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  t.teardown(() => db.close());
  const clock = new ManualClock(T0);
  const queue = createQueueStore(db);
  const { outcome, store } = fateFor(db, { clock });
  const scheduler = createScheduler({
    store: { messages: store.messages, recipients: { claim: (...a) => store.recipients.claim(...a), releaseMany: (i) => store.recipients.releaseMany(i), nextDueAt: () => store.recipients.nextDueAt() } },
    spool: createSpool({ dir: join(dir, 'spool'), inlineMaxBytes: 1 << 20 }),
    deliverer: fake.deliverer,
    outcome,
    clock,
    logger: silentLogger(),
    owner: 'node-1',
    concurrency: 1,
    leaseMs: 600_000,
    gate: { maxConnections: () => 1, messagesPerConnection: () => 100, takeMessage: () => null },
    idleConnectionMs: 60_000,
  });
  t.teardown(() => scheduler.stop(0));
  enqueue(queue, ['a@one.test']);
  scheduler.start();
  await until(t, () => fake.sent.length === 1, 'one.test went');
  enqueue(queue, ['b@two.test']);
  scheduler.poke();
  // the one connection allowed sits idle for one.test: it must close for two.test (the clock never moves)
  await until(t, () => fake.sent.length === 2, 'two.test went without waiting for the idle time to pass');
  t.same(fake.sent.map((m) => m.to), [['a@one.test'], ['b@two.test']]);
});

t.test('a connection holds its slot until its close has returned (its socket closed): never over the cap, released once, nothing leaks', async (t) => {
  // Sessions whose close() returns only when the test closes their socket; one close fails, one
  // open throws (a worker that dies): each still gives its slot back, once.
  const sent: OutgoingMessage[] = [];
  const closing: { close: () => void; fail: () => void }[] = [];
  let sockets = 0;
  let maxSockets = 0;
  let opened = 0;
  const deliverer: Deliverer = {
    async openSession(domain) {
      opened++;
      if (opened === 2) throw new Error('the worker dies before its session opens');
      sockets++;
      maxSockets = Math.max(maxSockets, sockets);
      const session = acceptingSession(domain, { t0: T0, sent });
      session.close = () =>
        new Promise<void>((resolve, reject) => {
          closing.push({
            close: () => {
              sockets--;
              resolve();
            },
            fail: () => {
              sockets--;
              reject(new Error('close failed'));
            },
          });
        });
      return { ok: true, session, tries: [] };
    },
  };
  let open = 0;
  let releases = 0;
  const gate: DestinationGate = {
    maxConnections: () => 2,
    messagesPerConnection: () => 1,
    takeMessage: () => null,
    connectionOpened: () => void open++,
    connectionClosed: () => {
      open--;
      releases++;
    },
  };
  const s = setup(t, deliverer, { gate });
  const ids = Array.from({ length: 5 }, (_, i) => enqueue(s.queue, [`r${i}@closing.test`]));
  s.scheduler.start();
  await until(t, () => closing.length === 2, 'two sessions sent their message and are closing');
  // the worker that died gave its slot back; the two closing sockets hold theirs
  for (let i = 0; i < 5; i++) await settle();
  t.equal(open, 2, 'the gate counts the two closing connections');
  t.equal(sockets, 2);
  t.equal(opened, 3, 'no connection opens while two sockets are still closing');
  closing.shift()!.fail();
  await until(t, () => opened === 4 && closing.length === 2, 'a failed close released its slot: the next connection opened');
  // the rest: each socket closed as soon as its session asks
  const allDone = () => ids.every((id) => s.queue.recipients.forMessage(id)[0]!.status === 'delivered') && closing.length === 0 && open === 0;
  for (let i = 0; i < 2000 && !allDone(); i++) {
    for (const c of closing.splice(0)) c.close();
    await settle();
  }
  t.ok(allDone(), 'all delivered, every socket closed');
  t.equal(maxSockets, 2, 'never more sockets open than the cap');
  t.equal(open, 0, 'every slot given back');
  t.equal(releases, opened, 'each connection released its slot exactly once (the one that died too)');
  // no slot leaked: the destination still takes a connection
  const late = enqueue(s.queue, ['late@closing.test']);
  s.scheduler.poke();
  await until(t, () => closing.length === 1, 'a new connection opened for new mail');
  closing.shift()!.close();
  await until(t, () => s.queue.recipients.forMessage(late)[0]!.status === 'delivered' && open === 0, 'delivered, its slot given back');
});
