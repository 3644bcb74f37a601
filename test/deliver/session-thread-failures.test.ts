import t, { type Test } from 'tap';
import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { createSessionThread, type ThreadFailure } from '../../src/deliver/session-thread.js';
import type { OutgoingMessage } from '../../src/deliver/types.js';
import { livenessBound } from '../helpers/liveness.js';
import { startMx } from '../helpers/mx-server.js';

// The delivery thread's failure path, below the relay (test/e2e/delivery-thread-crash.test.ts
// drives it through the relay): the restart back-off of a thread that keeps dying, and messages
// that cannot be handed to the thread (structured clone).

const FAULTY_WORKER = new URL('./fixtures/faulty-session-worker.ts', import.meta.url);
const timeouts = { connectTimeoutMs: 10_000, greetingTimeoutMs: 10_000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000 };

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + livenessBound(60_000);
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function capture() {
  const lines: { level: number; msg: string; reason?: string; restartInMs?: number | null }[] = [];
  return { lines, logger: createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) }) };
}

t.test('a thread that keeps dying is replaced after a back-off that doubles to its bound, and resets once a thread lived', async (t) => {
  const clock = new ManualClock();
  const { lines, logger } = capture();
  const failures: ThreadFailure[] = [];
  // every thread dies as soon as it has loaded its code
  const thread = createSessionThread({
    logger,
    clock,
    workerUrl: FAULTY_WORKER,
    backoff: { baseMs: 100, maxMs: 400, healthyMs: 10_000 },
    onFailure: (r) => failures.push(r),
    onStart: (w: Worker) => w.postMessage({ type: 'test-fault', fault: 'exit-now' }),
  });
  t.teardown(() => thread.close());
  const errors = () => lines.filter((l) => l.level >= 50);

  // the first failure: a new thread at once
  await until('the first failure', () => errors().length === 1);
  t.equal(thread.started, 2, 'replaced at once');
  t.equal(errors()[0]!.restartInMs, 0);
  // then 100, 200, 400, 400 ms (the bound): no thread starts a moment before its time
  for (const [n, delay] of [[2, 100], [3, 200], [4, 400], [5, 400]] as const) {
    await until(`failure ${n}`, () => errors().length === n);
    t.equal(errors()[n - 1]!.restartInMs, delay, `failure ${n}: the next thread in ${delay} ms`);
    t.equal(thread.started, n, 'not yet');
    clock.advance(delay - 1);
    t.equal(thread.started, n, 'not a millisecond early');
    clock.advance(1);
    t.equal(thread.started, n + 1, 'started when the back-off ends');
  }
  // a thread that lived healthyMs before it died: the count starts again (replaced at once)
  clock.advance(10_000);
  await until('failure 6', () => errors().length === 6);
  t.equal(errors()[5]!.restartInMs, 0, 'a thread that had lived is replaced at once');
  t.equal(thread.started, 7);
  t.same(failures, ['exited', 'exited', 'exited', 'exited', 'exited', 'exited'], 'each failure reported once');
  t.ok(errors().every((l) => l.reason === 'exited'), 'each logged once, at error level');
});

function message(over: Partial<OutgoingMessage> = {}): OutgoingMessage {
  const bytes = Buffer.from('From: a@ferry.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nHello.\r\n');
  return { id: 'msg-1', from: 'a@ferry.test', to: ['b@example.test'], size: bytes.length, eightBit: false, smtputf8: false, body: () => Readable.from([bytes]), ...over };
}

t.test('a message that cannot be cloned fails only its own transaction (or connect): the thread and the session go on', async (t) => {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const { lines, logger } = capture();
  const failures: ThreadFailure[] = [];
  const thread = createSessionThread({ logger, onFailure: (r) => failures.push(r) });
  t.teardown(() => thread.close());
  await thread.ready();
  const base = { host: 'mx.test', ip: '127.0.0.2', port: mx.port, hostname: 'ferry.test', tls: { required: false, implicit: false }, timeouts, clock: systemClock };

  const bad = await thread.connect({ ...base, auth: { user: 'u', pass: Symbol('not cloneable') as unknown as string } });
  t.equal(bad.ok, false);
  if (!bad.ok) t.match(bad.error, { kind: 'local', message: /^the connection could not be handed to the delivery thread: / });

  const res = await thread.connect({ ...base, auth: null });
  if (!res.ok) throw new Error(`connect failed: ${JSON.stringify(res)}`);
  const client = res.client;
  const report = await client.send(message({ dsn: { envid: (() => 'x') as unknown as string } }));
  t.equal(report.recipients.length, 1);
  t.match(report.recipients[0], { ok: false, phase: 'data', error: { kind: 'local', message: /^could not be handed to the delivery thread: / } });
  t.equal(report.notSent, undefined, 'a failed attempt (it would fail again over any session), not a message to resend at once');
  t.equal(client.usable, true, 'nothing reached the thread: the session is as it was');

  const ok = await client.send(message());
  t.match(ok.recipients[0], { ok: true }, 'the same session delivers the next message');
  await mx.waitForMessages(1);
  await client.close();
  t.equal(thread.started, 1, 'no thread was lost');
  t.same(failures, []);
  t.same(lines.filter((l) => l.level >= 50), []);
});

// A stalled thread is given up, but its sockets stay open until it has stopped: its sessions
// (and the connection slots their workers hold, released when these calls return) end then.
async function stalledThread(t: Test, o: { terminates: boolean }) {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const clock = new ManualClock();
  const { lines, logger } = capture();
  const failures: ThreadFailure[] = [];
  const workers: Worker[] = [];
  const thread = createSessionThread({
    logger,
    clock,
    workerUrl: FAULTY_WORKER,
    stallMs: 1000,
    onFailure: (r) => failures.push(r),
    onStart: (w) => {
      workers.push(w);
      if (o.terminates || workers.length > 1) return;
      // a thread that cannot be stopped (held in a native call): terminate() never ends
      const terminate = w.terminate.bind(w);
      w.terminate = () => new Promise(() => undefined);
      t.teardown(() => terminate());
    },
  });
  t.teardown(() => thread.close());
  await thread.ready();
  const res = await thread.connect({ host: 'mx.test', ip: '127.0.0.2', port: mx.port, hostname: 'ferry.test', tls: { required: false, implicit: false }, auth: null, timeouts, clock });
  if (!res.ok) throw new Error(`connect failed: ${JSON.stringify(res)}`);
  const order: string[] = [];
  workers[0]!.once('exit', () => order.push('exit'));
  workers[0]!.postMessage({ type: 'test-fault', fault: 'hang' });
  let settled = false;
  const sending = res.client.send(message()).then((r) => {
    settled = true;
    order.push('send returned');
    return r;
  });
  const closing = sending.then(() => res.client.close()).then(() => order.push('close returned'));
  // heartbeats on the manual clock until the thread is found stalled
  while (!failures.includes('stalled')) {
    clock.advance(250);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { clock, lines, failures, order, sending, closing, settled: () => settled, client: res.client };
}

t.test('a stalled thread: its sessions end once it has stopped, not when it is given up', async (t) => {
  const s = await stalledThread(t, { terminates: true });
  t.equal(s.settled(), false, 'given up: the transaction waits for the thread to stop');
  const report = await s.sending;
  await s.closing;
  t.same(s.order, ['exit', 'send returned', 'close returned'], 'the thread stopped (its sockets closed) before its session ended');
  t.match(report.recipients[0], { ok: false, error: { kind: 'local', message: /^the delivery thread stopped answering for \d+ ms during the transaction/ } });
  t.same(s.failures, ['stalled'], 'reported once');
  t.equal(s.lines.filter((l) => l.level >= 50).length, 1, 'logged once');
});

t.test('a stalled thread that cannot be stopped: its sessions end after a bound all the same (no slot held for ever)', async (t) => {
  const s = await stalledThread(t, { terminates: false });
  // a close() asked for meanwhile (the worker giving up) waits with the session
  const closedEarly = s.client.close().then(() => s.order.push('early close returned'));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(s.settled(), false, 'not before the bound');
  s.clock.advance(999);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(s.settled(), false, 'not a millisecond early');
  s.clock.advance(1);
  await s.sending;
  await s.closing;
  await closedEarly;
  t.same(s.order, ['send returned', 'early close returned', 'close returned']);
  t.match(s.lines.find((l) => /did not stop/.test(l.msg)), { level: 50 }, 'said so');
  t.same(s.failures, ['stalled'], 'reported once');
});
