import t, { type Test } from 'tap';
import type { Worker } from 'node:worker_threads';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { seededRandom } from '../../src/core/random.js';
import { livenessBound } from '../helpers/liveness.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';
import { startRelay } from '../helpers/relay.js';
import { attempts, isStatus, send, waitFor } from './fixtures/delivery.js';

// Client → Ferry → test MX, with the delivery thread (delivery.thread, on by default) dying in the
// middle of a session: terminated from outside through its Worker handle, an uncaught exception,
// and an event loop that never runs again. Each time: the recipient in flight is deferred with a
// reason that says so (not delivered, not bounced), the failure is logged once at error level and
// counted, a new thread starts, and the retry is delivered by it; the relay keeps running.

const FAULTY_WORKER = new URL('../deliver/fixtures/faulty-session-worker.ts', import.meta.url);

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + livenessBound(60_000);
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(t: Test, o: { rcpt?: (n: number, workers: Worker[]) => void; fault?: string; stallMs?: number } = {}) {
  const workers: Worker[] = [];
  let rcpts = 0;
  const mx: TestMx = await startMx({
    host: '127.0.0.2',
    tls: false,
    script: {
      rcpt: () => {
        o.rcpt?.(++rcpts, workers);
        return null;
      },
    },
  });
  t.teardown(() => mx.close());
  const logs: LogLine[] = [];
  const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const relay = await startRelay(
    t,
    {
      routes: { '*': `127.0.0.2:${mx.port}` },
      dmarc: { mode: 'off' },
      // idle connections wait on the relay's clock, which this test moves only by hand
      delivery: { retryScheduleMinutes: [5], retryJitter: 0, idleConnectionMs: 0, ...(o.stallMs ? { threadStallMs: o.stallMs } : {}) },
    },
    {
      clock,
      random: seededRandom(3),
      logger,
      ...(o.fault ? { sessionWorkerUrl: FAULTY_WORKER } : {}),
      onDeliveryThread: (w) => {
        workers.push(w);
        // the first thread only: the fault strikes at its first transaction
        if (o.fault && workers.length === 1) w.postMessage({ type: 'test-fault', fault: o.fault });
      },
    },
  );
  const threadErrors = () => logs.filter((l) => l.level >= 50 && /delivery thread/.test(l.msg));
  const failures = async (reason: string) => {
    const text = await relay.ferry.metrics.render();
    return Number(new RegExp(`ferry_delivery_thread_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  return { mx, relay, ferry: relay.ferry, clock, workers, logs, threadErrors, failures };
}

/** The recipient in flight was deferred for the thread's death; the retry goes over a new thread. */
async function deferredThenDelivered(t: Test, s: Awaited<ReturnType<typeof setup>>, id: string, reply: RegExp, reason: string) {
  const [r] = await waitFor(s.ferry, id, isStatus('delivered', 'deferred', 'bounced', 'expired'));
  t.equal(r!.status, 'deferred', 'deferred: queued for another attempt, neither delivered nor bounced');
  t.equal(r!.attempts, 1);
  t.match(r!.lastReply, reply, 'the reason names the delivery thread');
  t.equal(r!.nextAttemptAt, s.clock.now() + 5 * 60_000, 'retried on the schedule');
  t.equal(s.mx.messages.length, 0, 'the MX took nothing');
  const [a] = attempts(s.ferry, id);
  t.equal(a!.result, 'deferred');
  t.equal(a!.errorKind, 'local');

  await until('a new delivery thread', () => s.workers.length >= 2);
  const errors = s.threadErrors();
  t.equal(errors.length, 1, 'logged once at error level');
  t.equal(errors[0]?.reason, reason);
  t.equal(await s.failures(reason), 1, 'counted once in the metrics');

  s.clock.advance(5 * 60_000);
  const [done] = await waitFor(s.ferry, id, isStatus('delivered', 'bounced', 'expired'));
  t.equal(done!.status, 'delivered', 'the retry is delivered by the new thread');
  t.equal(done!.attempts, 2);
  t.equal(s.mx.messages.length, 1, 'delivered once');
  t.equal(s.workers.length, 2, 'one new thread, no more');
  t.equal(s.threadErrors().length, 1, 'still one error');
}

t.test('the delivery thread is terminated from outside while the MX answers RCPT', async (t) => {
  const s = await setup(t, { rcpt: (n, workers) => void (n === 1 && workers[0]!.terminate()) });
  const id = await send(s.relay, { to: ['first@dest.test'] });
  await deferredThenDelivered(t, s, id, /^the delivery thread stopped \(exit code 1\) during the transaction: not known to be delivered, tried again$/, 'exited');
  // the relay goes on taking and delivering mail
  const next = await send(s.relay, { to: ['next@dest.test'] });
  const [r] = await waitFor(s.ferry, next, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
});

t.test('an uncaught exception in the delivery thread during a transaction', async (t) => {
  const s = await setup(t, { fault: 'throw' });
  const id = await send(s.relay, { to: ['first@dest.test'] });
  await deferredThenDelivered(t, s, id, /^the delivery thread crashed \(injected fault: an uncaught exception in the delivery thread\) during the transaction/, 'crashed');
});

t.test('the delivery thread calls process.exit during a transaction', async (t) => {
  const s = await setup(t, { fault: 'exit' });
  const id = await send(s.relay, { to: ['first@dest.test'] });
  await deferredThenDelivered(t, s, id, /^the delivery thread stopped \(exit code 3\) during the transaction/, 'exited');
});

t.test('a delivery thread that hangs: its heartbeat goes unanswered past delivery.threadStallMs', async (t) => {
  // A deadline far below the default (30 s), still far above what a live thread takes to answer.
  const s = await setup(t, { fault: 'hang', stallMs: 3000 });
  const id = await send(s.relay, { to: ['first@dest.test'] });
  await deferredThenDelivered(t, s, id, /^the delivery thread stopped answering for \d+ ms during the transaction/, 'stalled');
});
