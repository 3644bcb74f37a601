import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, type TimerHandle } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Deliverer, DeliverySession } from '../../src/deliver/deliverer.js';
import type { OutgoingMessage, TransactionReport } from '../../src/deliver/types.js';
import { createSpool } from '../../src/spool/spool.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore, type QueueStore } from '../../src/store/queue-store.js';
import { createScheduler, type SchedulerOptions } from '../../src/workers/scheduler.js';
import { fateFor } from '../helpers/fate.js';
import { acceptingSession } from './fixtures.js';

/**
 * The scheduler's work on the SMTP thread per message (offload13): what it reads from the store
 * after a claim, how many idle connections a new message wakes, and when it opens connections
 * while intake-first holds message starts back.
 */

const T0 = Date.UTC(2026, 0, 1);
const settle = () => new Promise((r) => setTimeout(r, 20));
async function until(t: Test, cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await settle();
  t.ok(cond(), what);
}

let seq = 0;
function enqueue(q: QueueStore, to: string[], at = T0): string {
  const id = `O${++seq}`;
  const headers = Buffer.from('Subject: x\r\n\r\n');
  q.accept([{
    message: { id, createdAt: at, sender: 's@ferry.test', username: null, clientIp: null, helo: null, tls: null, size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
    recipients: to.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
  }]);
  return id;
}

/** Sessions that accept everything (or defer everything: 451), counting opens and closes. */
function sessions(o: { defer?: boolean } = {}) {
  const sent: OutgoingMessage[] = [];
  let opened = 0;
  let closed = 0;
  const deliverer: Deliverer = {
    openSession(domain) {
      opened++;
      const inner = acceptingSession(domain, { t0: T0, sent });
      const session: DeliverySession = {
        ...inner,
        usable: true,
        async send(m): Promise<TransactionReport> {
          const r = await inner.send(m);
          if (!o.defer) return r;
          return { ...r, recipients: m.to.map((address) => ({ address, ok: false as const, phase: 'rcpt', reply: { code: 451, enhanced: '4.3.0', text: '451 4.3.0 try later' } })) };
        },
        close: async () => {
          closed++;
        },
      };
      return Promise.resolve({ ok: true, session, tries: [] });
    },
  };
  return { deliverer, sent, opened: () => opened, closed: () => closed };
}

function setup(t: Test, deliverer: Deliverer, extra: Partial<SchedulerOptions> & { nextDue?: () => number | null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sched-off-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const clock = new ManualClock(T0);
  const queue = createQueueStore(db);
  const { outcome, store } = fateFor(db, { clock });
  // what the scheduler asked the store, in order: claim:<rows found>, next
  const calls: string[] = [];
  const { nextDue, ...options } = extra;
  const scheduler = createScheduler({
    store: {
      messages: store.messages,
      recipients: {
        claim: async (...a) => {
          const rows = await store.recipients.claim(...a);
          calls.push(`claim:${rows.length}`);
          return rows;
        },
        releaseMany: (items) => store.recipients.releaseMany(items),
        nextDueAt: async () => {
          calls.push('next');
          return nextDue ? nextDue() : store.recipients.nextDueAt();
        },
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
    gate: { maxConnections: () => 5, messagesPerConnection: () => 100, takeMessage: () => null },
    intakeFirst: false,
    ...options,
  });
  t.teardown(async () => {
    const stopping = scheduler.stop(1000);
    clock.advance(1000);
    await stopping;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { queue, clock, scheduler, calls };
}

t.test('a claim that found rows is not followed by a read of the next due time; one that found nothing is', async (t) => {
  const fake = sessions();
  const s = setup(t, fake.deliverer);
  enqueue(s.queue, ['a@one.test']);
  s.scheduler.start();
  await until(t, () => fake.sent.length === 1, 'sent');
  // the worker ended (no idle time): its poke claims again, finds nothing, and reads the next due time
  await until(t, () => s.calls.includes('claim:0') && s.calls.at(-1) === 'next', 'the empty claim read the next due time');
  for (let i = 0; i < s.calls.length - 1; i++) {
    if (s.calls[i] !== 'claim:0' && s.calls[i]!.startsWith('claim:')) t.not(s.calls[i + 1], 'next', `no next-due read right after ${s.calls[i]} (call ${i})`);
  }
  t.ok(s.calls.includes('claim:1'), `calls: ${s.calls.join(' ')}`);
});

t.test("this node's deferral wakes the scheduler at the retry time by itself", async (t) => {
  const fake = sessions({ defer: true });
  // A store whose next-due read never names a time, and an idle wake far away: only the
  // deferral's own time (RETRY: 5 minutes) can bring the recipient back before an hour.
  const s = setup(t, fake.deliverer, { nextDue: () => null, idleWakeMs: 3_600_000 });
  enqueue(s.queue, ['a@later.test']);
  s.scheduler.start();
  await until(t, () => fake.sent.length === 1, 'first attempt');
  await until(t, () => s.scheduler.stats.inFlight === 0, 'deferred and finished');
  await settle();
  s.clock.advance(5 * 60_000 - 1);
  await settle();
  t.equal(fake.sent.length, 1, 'not before the retry time');
  s.clock.advance(1);
  await until(t, () => fake.sent.length === 2, 'tried again at the retry time, not at the idle wake an hour later');
});

t.test('a new message wakes one idle connection, not all of them (the others stay open)', async (t) => {
  const fake = sessions();
  const s = setup(t, fake.deliverer, { idleConnectionMs: 60_000 });
  // two messages at once: two connections
  enqueue(s.queue, ['a@two.test']);
  enqueue(s.queue, ['b@two.test']);
  s.scheduler.start();
  await until(t, () => fake.sent.length === 2, 'both sent');
  t.equal(fake.opened(), 2, 'two connections');
  await until(t, () => s.scheduler.stats.inFlight === 0, 'both recorded');
  enqueue(s.queue, ['c@two.test']);
  s.scheduler.poke();
  await until(t, () => fake.sent.length === 3, 'the third went');
  await settle();
  t.equal(fake.closed(), 0, 'the other idle connection was not woken to find nothing and close');
  t.equal(s.scheduler.stats.connections, 2, 'both connections still open');
  enqueue(s.queue, ['d@two.test']);
  s.scheduler.poke();
  await until(t, () => fake.sent.length === 4, 'the fourth went');
  t.equal(fake.opened(), 2, 'over one of the two open connections');
});

t.test('while intake-first holds message starts, a destination that has a connection gets no more; one without gets its first', async (t) => {
  const fake = sessions();
  // intake-first on a clock of the test's: every window busy, one start per window
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const setTimer = (ms: number, fn: () => void): TimerHandle => {
    const timer = { at: now + ms, fn, cancelled: false };
    timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };
  const s = setup(t, fake.deliverer, {
    idleConnectionMs: 60_000,
    intakeFirst: { now: () => now, setTimer, windowMs: 100, busyAt: 0.5, share: 0, minPerWindow: 1, maxHoldMs: 1_000_000, utilization: () => 1 },
  });
  // a connection is open (idle) before intake gets busy
  enqueue(s.queue, ['a@held.test']);
  s.scheduler.start();
  await until(t, () => fake.sent.length === 1, 'the first message went');
  await until(t, () => s.scheduler.stats.inFlight === 0, 'and was recorded');
  // intake is busy: the next window allows one start
  s.scheduler.accepted(10);
  now = 100;
  enqueue(s.queue, ['b@held.test']);
  s.scheduler.poke();
  await until(t, () => fake.sent.length === 2, "the window's one start");
  await until(t, () => s.scheduler.stats.inFlight === 0, 'recorded');
  enqueue(s.queue, ['c@held.test']);
  s.scheduler.poke();
  await until(t, () => s.scheduler.stats.intakeFirst?.waiting === 1, 'the next start waits its turn');
  enqueue(s.queue, ['d@held.test']);
  s.scheduler.poke();
  await until(t, () => s.scheduler.stats.inFlight === 2, 'd claimed');
  await settle();
  t.equal(fake.opened(), 1, 'no second connection for held.test: it would only have waited in the same line');
  // another destination's first connection opens meanwhile (it waits for its turn too)
  enqueue(s.queue, ['e@other.test']);
  s.scheduler.poke();
  await until(t, () => fake.opened() === 2, 'other.test got its first connection');
  // the hold ends (windows pass): the rest go over the connections that are open
  s.scheduler.accepted(0);
  for (let i = 0; i < 10 && fake.sent.length < 5; i++) {
    now += 100;
    for (const timer of timers.splice(0)) if (!timer.cancelled) timer.fn();
    await settle();
  }
  await until(t, () => fake.sent.length === 5, 'all five sent');
  t.equal(fake.opened(), 2, 'no connection was opened only to wait');
});
