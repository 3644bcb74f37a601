import { Worker } from 'node:worker_threads';
import { errorMessage, FerryError } from '../core/errors.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * The life of the delivery thread (session-thread.ts holds its sessions): start it, notice when
 * it dies or stops answering, fail what it held, start another.
 *
 * - crashed: an uncaught exception in the thread (or an out-of-memory), then its exit;
 * - exited: the thread ended without an error (process.exit in it, terminated from outside);
 * - stalled: the thread had sessions open and left a heartbeat unanswered for `stallMs` (its
 *   event loop is blocked): it is given up at once and terminated;
 * - message_error: a message from the thread could not be deserialized (which session it was for
 *   is unknown): the thread is given up as if stalled.
 * Each failure is logged once at error level and reported once (onFailure, for the metrics); the
 * sessions the thread held are failed by onGone (their recipients are deferred, never marked
 * delivered or bounced). A thread that had loaded its code is replaced at once after its first
 * failure; one that keeps failing within `healthyMs` of its start is replaced after a back-off
 * that doubles from `baseMs` up to `maxMs`. A thread that died before loading its code (a broken
 * install) is not replaced eagerly: the next session starts one, after the same back-off.
 *
 * Time here is real time (the clock handed in: the system clock in the relay), because what it
 * measures is another thread's liveness, and that thread runs on real time.
 */

export type ThreadFailure = 'crashed' | 'exited' | 'stalled' | 'message_error';

export interface SupervisorOptions {
  url: URL;
  clock: Clock;
  logger: Logger;
  /** a thread with sessions open that leaves a heartbeat unanswered this long is stalled; 0: no heartbeat */
  stallMs: number;
  backoff: { baseMs: number; maxMs: number; healthyMs: number };
  /** a message from a live thread (not the supervisor's own 'ready' and 'pong') */
  onMessage(worker: Worker, m: { type: string }): void;
  /** the thread is gone: fail the sessions it held with this reason; returns how many there were */
  onGone(worker: Worker, reason: string): number;
  /** sessions are open: the thread keeps the process alive and its heartbeat runs */
  busy(): boolean;
  onFailure?: ((reason: ThreadFailure) => void) | undefined;
  /** each thread as it starts (tests: to stop one from outside) */
  onStart?: ((worker: Worker) => void) | undefined;
}

export interface ThreadSupervisor {
  /** the live thread, or null (none started yet, or between a failure and its replacement) */
  current(): Worker | null;
  /** the live thread; when there is none, the next one (after the back-off); null once closed */
  acquire(): Promise<Worker | null>;
  /** resolves once the first thread has loaded its code; rejects when it stopped before that */
  ready(): Promise<void>;
  readonly started: number;
  /** the number of open sessions changed */
  refresh(): void;
  close(): Promise<void>;
}

interface Thread {
  worker: Worker;
  startedAt: number;
  loaded: boolean;
  /** the uncaught exception that ended it, if any */
  error: Error | null;
  /** failed (or closed) and dealt with: its exit says nothing more */
  gone: boolean;
  /** when the unanswered heartbeat was sent; null: none outstanding */
  pingAt: number | null;
}

export function createThreadSupervisor(o: SupervisorOptions): ThreadSupervisor {
  const { clock, logger } = o;
  let cur: Thread | null = null;
  let started = 0;
  let closed = false;
  /** failures in a row of threads that did not live healthyMs */
  let failures = 0;
  /** no thread starts before this (the back-off) */
  let restartAt = 0;
  let pending: { timer: TimerHandle; done: Promise<void>; resolve: () => void } | null = null;
  let beat: TimerHandle | null = null;
  let lastTick = 0;
  const interval = Math.max(10, Math.floor(o.stallMs / 4));
  let first: Promise<void> | null = null;

  function start(): Thread {
    const worker = new Worker(o.url);
    started++;
    const t: Thread = { worker, startedAt: clock.now(), loaded: false, error: null, gone: false, pingAt: null };
    cur = t;
    const loaded = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { type: string }) => {
        if (m.type === 'ready') {
          t.loaded = true;
          resolve();
        }
      });
      worker.once('exit', (code) => reject(new FerryError('FERRY_ERR_INTERNAL', `the delivery thread stopped before it was ready (exit code ${code})`)));
    });
    // a start nobody waits for must not be an unhandled rejection
    loaded.catch(() => undefined);
    first ??= loaded;
    worker.on('message', (m: { type: string }) => {
      if (m.type === 'pong') t.pingAt = null;
      else if (m.type !== 'ready' && !t.gone) o.onMessage(worker, m);
    });
    // 'error' (an uncaught exception) is followed by 'exit': the failure is dealt with there, once.
    worker.on('error', (err) => {
      t.error = err;
    });
    worker.on('messageerror', (err) => fail(t, 'message_error', null, err));
    worker.on('exit', (code) => {
      if (t.gone) return;
      if (closed) {
        t.gone = true;
        o.onGone(worker, 'the relay is stopping');
        return;
      }
      fail(t, t.error ? 'crashed' : 'exited', code, t.error);
    });
    // A thread with no session open does not keep the process alive (once it has loaded: a
    // caller waiting for ready() must not see the process end under it).
    loaded.then(refresh, () => undefined);
    o.onStart?.(worker);
    return t;
  }

  function fail(t: Thread, reason: ThreadFailure, exitCode: number | null, err: Error | null): void {
    if (t.gone) return;
    t.gone = true;
    if (cur === t) cur = null;
    const now = clock.now();
    failures = now - t.startedAt >= o.backoff.healthyMs ? 1 : failures + 1;
    const delay = failures <= 1 ? 0 : Math.min(o.backoff.maxMs, o.backoff.baseMs * 2 ** (failures - 2));
    restartAt = now + delay;
    const what =
      reason === 'crashed'
        ? `crashed (${err ? errorMessage(err) : 'uncaught exception'})`
        : reason === 'exited'
          ? `stopped (exit code ${exitCode})`
          : reason === 'stalled'
            ? `stopped answering for ${now - (t.pingAt ?? now)} ms`
            : `sent a message that could not be read (${err ? errorMessage(err) : 'messageerror'})`;
    const next = t.loaded ? `a new thread starts in ${delay} ms` : 'it had not loaded its code: the next session starts a new thread';
    const lose = (): void => {
      const sessions = o.onGone(t.worker, `the delivery thread ${what}`);
      logger.error(
        { reason, exitCode, err: err ? errorMessage(err) : undefined, threadId: t.worker.threadId, sessions, restartInMs: t.loaded ? delay : null, failuresInARow: failures },
        `delivery thread ${what}: ${sessions} session(s) lost, their recipients are deferred and retried; ${next}`,
      );
      refresh();
    };
    o.onFailure?.(reason);
    if (reason === 'stalled' || reason === 'message_error') {
      // Its sessions end when it has stopped, not before: until then their sockets are open and
      // count against their destinations' caps (the sessions' slots are released after onGone).
      afterExit(t, lose);
      t.worker.terminate().catch((e: unknown) => logger.warn({ err: errorMessage(e) }, 'terminating the failed delivery thread failed'));
    } else lose();
    if (t.loaded) void acquire();
    refresh();
  }

  /**
   * Runs `lose` once the thread has exited (its handles, the sockets among them, are closed by
   * then), or after stallMs if it does not (a thread held in a native call cannot be stopped:
   * its connections are then counted as closed rather than holding their slots for ever).
   */
  function afterExit(t: Thread, lose: () => void): void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      backstop.cancel();
      lose();
    };
    const backstop = clock.setTimer(Math.max(o.stallMs, 1000), () => {
      logger.error({ threadId: t.worker.threadId }, 'the failed delivery thread did not stop: its connections are counted as closed');
      once();
    });
    t.worker.once('exit', once);
  }

  function acquire(): Promise<Worker | null> {
    if (closed) return Promise.resolve(null);
    if (cur) return Promise.resolve(cur.worker);
    const wait = restartAt - clock.now();
    if (wait <= 0) return Promise.resolve(start().worker);
    if (!pending) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      // someone waits for a thread (a session, or the eager restart): it starts when the back-off ends
      const timer = clock.setTimer(wait, () => {
        pending = null;
        if (!closed && !cur) start();
        resolve();
      });
      pending = { timer, done, resolve };
    }
    return pending.done.then(() => (closed ? null : (cur ?? start()).worker));
  }

  function refresh(): void {
    const busy = o.busy();
    if (cur?.loaded) {
      if (busy) cur.worker.ref();
      else cur.worker.unref();
    }
    if (busy && !beat && o.stallMs > 0 && !closed) {
      lastTick = clock.now();
      beat = clock.setTimer(interval, tick);
    }
  }

  function tick(): void {
    beat = null;
    const t = cur;
    const now = clock.now();
    // This thread's own loop was held up (a late tick): an unanswered heartbeat proves nothing.
    const onTime = now - lastTick <= interval * 2;
    lastTick = now;
    if (t && t.loaded && !closed) {
      if (t.pingAt === null) {
        t.pingAt = now;
        t.worker.postMessage({ type: 'ping', id: 0 });
      } else if (!onTime) {
        t.pingAt = Math.max(t.pingAt, now - interval);
      } else if (now - t.pingAt >= o.stallMs) {
        fail(t, 'stalled', null, null);
      }
    }
    if (o.busy() && !closed) beat = clock.setTimer(interval, tick);
  }

  // Started now, not at the first session: a thread takes a moment to load its code.
  start();

  return {
    current: () => cur?.worker ?? null,
    acquire,
    ready: () => first ?? Promise.resolve(),
    get started() {
      return started;
    },
    refresh,
    async close() {
      closed = true;
      pending?.timer.cancel();
      pending?.resolve();
      pending = null;
      beat?.cancel();
      beat = null;
      const t = cur;
      cur = null;
      if (!t) return;
      t.gone = true;
      await t.worker.terminate();
      o.onGone(t.worker, 'the relay is stopping');
    },
  };
}
