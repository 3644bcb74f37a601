import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { errorMessage } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TlsInfo } from '../core/types.js';
import type { StoredBodyRef } from '../core/store-types.js';
import type { ConnectOptions, ConnectResult, ConnectionTls, SmtpClient } from './connection.js';
import { createThreadSupervisor, type ThreadFailure } from './session-thread-supervisor.js';
import type { DeliveryTimeouts, HopTls, OutgoingDsn, OutgoingMessage, TransactionReport } from './types.js';

export type { ThreadFailure };

/**
 * The outbound SMTP sessions on a thread of their own (issue 13, "both cores"): the thread
 * boundary of delivery, and the only module that knows there is one.
 *
 * What stays on the calling thread: routing, DNS, the TLS policy (MTA-STS, DANE lookups), the
 * order of hops, TLS reports, the store, the sign stage. What runs on the delivery thread: each
 * session itself (src/deliver/connection.ts and its nodemailer adapter: connect, greeting, EHLO,
 * STARTTLS at the given level against the given TLSA records, AUTH, MAIL/RCPT/DATA, the replies,
 * RSET after a refused transaction, QUIT). createSessionThread().connect has the signature of
 * connectSmtp, so the deliverer does not change: it is handed one or the other.
 *
 * The contract is plain messages (ToThread out, FromThread back); nothing is shared. A message
 * body crosses as its bytes (inline bodies) or its spool file's path (the thread reads the file);
 * a large inline body left in the store crosses as its row (the thread reads it with a connection
 * of its own: store/sqlite/stored-bodies.ts); a body that only exists as a stream (PostgreSQL chunk rows) is pulled chunk by chunk over the
 * port, one chunk in flight at a time. An AbortSignal crosses as an 'abort' message.
 *
 * A thread that dies (crashes, exits, is terminated, stops answering its heartbeat: see
 * session-thread-supervisor.ts) fails what it held, the way a dropped connection would: an open
 * that had not finished is a failed connect, a transaction in flight ends as a local failure
 * saying the thread died (its recipients are deferred and retried: whether the server took the
 * message is unknown, so at least once), and its sessions are unusable. A message that cannot be
 * handed over (structured clone) fails only its own transaction or connect. A new thread
 * replaces a dead one (with a back-off when they keep dying); connects wait for it.
 */

/**
 * A message body the delivery thread reads itself. file: an absolute path; row: the store row the
 * body was left in (read with the thread's own connection); neither: the bytes are inline.
 */
export interface PlainBody {
  headers: Uint8Array;
  inline: Uint8Array | null;
  file: string | null;
  row: StoredBodyRef | null;
}

/** OutgoingMessage as plain data. body null: pulled over the port ('pull' / 'chunk'). */
export type PlainMessage = Omit<OutgoingMessage, 'body' | 'bodySource'> & { body: PlainBody | null };

/** ConnectOptions without what stays on the calling thread (its clock, signal and end hook). */
export type PlainConnectOptions = Omit<ConnectOptions, 'clock' | 'signal' | 'onEnd'>;

export type PlainConnectResult =
  | { ok: true; tls: ConnectionTls; client: { tls: TlsInfo | null; verified: boolean; extensions: string[] } }
  | Exclude<ConnectResult, { ok: true }>;

/** Calling thread → delivery thread. id: the connect that opened the session (a session's id). */
export type ToThread =
  | { type: 'connect'; id: number; options: PlainConnectOptions }
  | { type: 'send'; id: number; call: number; message: PlainMessage }
  | { type: 'chunk'; id: number; call: number; chunk: Uint8Array | null; error?: string }
  | { type: 'close'; id: number; call: number }
  | { type: 'abort'; id: number }
  /** the supervisor's heartbeat (answered 'pong') */
  | { type: 'ping'; id: 0 };

/** Delivery thread → calling thread. */
export type FromThread =
  | { type: 'connected'; id: number; result: PlainConnectResult }
  | { type: 'sent'; id: number; call: number; report: TransactionReport; usable: boolean }
  | { type: 'pull'; id: number; call: number }
  | { type: 'closed'; id: number; call: number }
  /** the connection ended by itself (the server closed it, a timeout) */
  | { type: 'ended'; id: number }
  /** a request failed inside the thread (a bug): the session is given up */
  | { type: 'failed'; id: number; call: number | null; message: string }
  /** the thread has loaded its code (sent once, id 0) */
  | { type: 'ready'; id: 0 }
  | { type: 'pong'; id: 0 };

export interface SessionThreadOptions {
  logger: Logger;
  /** the thread's code (tests hand in one with faults) */
  workerUrl?: URL | undefined;
  /** real time for the heartbeat and the back-off (default: the system clock) */
  clock?: Clock | undefined;
  /** a thread with sessions open that leaves its heartbeat unanswered this long is given up (default 30 s; 0: never) */
  stallMs?: number | undefined;
  /** restart back-off: doubling from baseMs (250) to maxMs (30 s) while threads die within healthyMs (60 s) of their start */
  backoff?: { baseMs: number; maxMs: number; healthyMs: number } | undefined;
  /** each failure of a thread, once (metrics) */
  onFailure?: ((reason: ThreadFailure) => void) | undefined;
  /** each thread as it starts (tests: to stop one from outside) */
  onStart?: ((worker: Worker) => void) | undefined;
}

export interface SessionThread {
  /** connectSmtp's contract, run on the delivery thread; o.clock is not used there (the thread keeps real time). */
  connect(o: ConnectOptions): Promise<ConnectResult>;
  /**
   * Resolves once the thread has loaded its code; rejects when it stopped before that (its code
   * cannot load). The relay waits for it at start, so a broken install fails the start, not every delivery.
   */
  ready(): Promise<void>;
  /** Threads started so far (more than one: a thread died and was replaced). */
  readonly started: number;
  close(): Promise<void>;
}

// Under the TypeScript test runner this module is a .ts file, and so is its worker.
const DEFAULT_WORKER = new URL(import.meta.url.endsWith('.ts') ? './session-thread-worker.ts' : './session-thread-worker.js', import.meta.url);

/** An exact-size copy that can be handed over (a Buffer is often a view into a larger pool). */
function own(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/**
 * How an inline body crosses. Left in the store (row): as its reference, no read or copy here —
 * unless the signing thread already read it and handed it back (inline, the row's length): then
 * those bytes are moved over (transferred: detached here, so a second send of the same message
 * finds it empty and goes by the reference). Otherwise an exact-size copy.
 */
function inlineOrRow(inline: Buffer | null, row: StoredBodyRef | null): { inline: Uint8Array | null; row: StoredBodyRef | null } {
  if (!row) return { inline: inline ? own(inline) : null, row: null };
  if (!inline || inline.length !== row.bytes) return { inline: null, row };
  const movable = inline.byteOffset === 0 && inline.buffer instanceof ArrayBuffer && inline.buffer.byteLength === inline.byteLength;
  return { inline: movable ? new Uint8Array(inline.buffer, 0, inline.byteLength) : own(inline), row: null };
}

export function toPlainMessage(message: OutgoingMessage): { message: PlainMessage; transfer: ArrayBuffer[] } {
  const source = message.bodySource?.() ?? null;
  const transfer: ArrayBuffer[] = [];
  let body: PlainBody | null = null;
  if (source) {
    body = { headers: own(source.headers), ...inlineOrRow(source.inline, source.row ?? null), file: source.file };
    transfer.push(body.headers.buffer as ArrayBuffer);
    if (body.inline) transfer.push(body.inline.buffer as ArrayBuffer);
  }
  const plain: PlainMessage = {
    id: message.id,
    from: message.from,
    to: [...message.to],
    size: message.size,
    eightBit: message.eightBit,
    smtputf8: message.smtputf8,
    body,
  };
  if (message.dsn) plain.dsn = { ...message.dsn, ...(message.dsn.notify ? { notify: [...message.dsn.notify] } : {}) };
  if (message.requireTls !== undefined) plain.requireTls = message.requireTls;
  if (message.tlsRequiredNo !== undefined) plain.tlsRequiredNo = message.tlsRequiredNo;
  return { message: plain, transfer };
}

interface Pending {
  /** the thread the session lives on */
  worker: Worker;
  clock: Clock;
  host: string;
  ip: string;
  port: number;
  /** settles the connect (before 'connected') */
  connected?: (r: ConnectResult) => void;
  /** m null: the session is lost (reason says why) */
  calls: Map<number, { settle: (m: FromThread | null, reason: string) => void; body?: AsyncIterator<unknown> }>;
  session?: { usable: boolean };
  signal?: AbortSignal;
  onAbort?: () => void;
  /** resolved when the session is lost (lost(): the thread stopped, its sockets with it) */
  lost: Promise<void>;
  markLost: () => void;
}

export function createSessionThread(options: SessionThreadOptions): SessionThread {
  const { logger } = options;
  let closed = false;
  let nextId = 1;
  let nextCall = 1;
  const open = new Map<number, Pending>();

  const lost = (id: number, p: Pending, reason: string): void => {
    open.delete(id);
    p.markLost();
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    if (p.session) p.session.usable = false;
    p.connected?.({ ok: false, result: 'connect_failed', error: { kind: 'local', message: reason }, tls: null });
    for (const c of p.calls.values()) c.settle(null, reason);
    p.calls.clear();
    threads.refresh();
  };

  const threads = createThreadSupervisor({
    url: options.workerUrl ?? DEFAULT_WORKER,
    clock: options.clock ?? systemClock,
    logger,
    stallMs: options.stallMs ?? 30_000,
    backoff: options.backoff ?? { baseMs: 250, maxMs: 30_000, healthyMs: 60_000 },
    onMessage: (w, m) => onMessage(w, m as FromThread),
    onGone: (w, reason) => {
      let n = 0;
      for (const [id, p] of [...open]) {
        if (p.worker !== w) continue;
        n++;
        lost(id, p, reason);
      }
      return n;
    },
    busy: () => open.size > 0,
    onFailure: options.onFailure,
    onStart: options.onStart,
  });

  /** Posts to the thread; a message that cannot be cloned comes back as the error (nothing was sent). */
  const post = (w: Worker, m: ToThread, transfer: ArrayBuffer[] = []): Error | null => {
    try {
      w.postMessage(m, transfer);
      return null;
    } catch (err) {
      return err instanceof Error ? err : new Error(errorMessage(err));
    }
  };

  function onMessage(w: Worker, m: FromThread): void {
    const p = open.get(m.id);
    if (!p || p.worker !== w) return;
    switch (m.type) {
      case 'connected': {
        const settle = p.connected;
        delete p.connected;
        if (!m.result.ok) {
          open.delete(m.id);
          threads.refresh();
          if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
          settle?.(m.result);
          return;
        }
        settle?.({ ok: true, tls: m.result.tls, client: remoteClient(w, m.id, p, m.result.client, p.clock) });
        return;
      }
      case 'sent':
      case 'closed':
        p.calls.get(m.call)?.settle(m, '');
        return;
      case 'pull': {
        const c = p.calls.get(m.call);
        if (!c?.body) return;
        const it = c.body;
        const fail = (err: unknown): void => {
          post(w, { type: 'chunk', id: m.id, call: m.call, chunk: null, error: errorMessage(err) });
        };
        it.next().then((r) => {
          if (r.done) return void post(w, { type: 'chunk', id: m.id, call: m.call, chunk: null });
          const chunk = own(typeof r.value === 'string' ? Buffer.from(r.value) : (r.value as Uint8Array));
          const err = post(w, { type: 'chunk', id: m.id, call: m.call, chunk }, [chunk.buffer as ArrayBuffer]);
          if (err) fail(err);
        }, fail);
        return;
      }
      case 'ended':
        if (p.session) p.session.usable = false;
        return;
      case 'failed':
        logger.error({ error: m.message }, 'delivery thread: a session failed inside the thread');
        lost(m.id, p, `delivery thread: ${m.message}`);
        return;
    }
  }

  function remoteClient(w: Worker, id: number, p: Pending, c: { tls: TlsInfo | null; verified: boolean; extensions: string[] }, clock: Clock): SmtpClient {
    const { host, ip, port } = p;
    const state = { usable: true };
    p.session = state;
    const extensions: readonly string[] = Object.freeze([...c.extensions]);
    /** fallback(reason, sent): the call did not come back (the session was lost; sent false: it never left) */
    const call = <T>(make: (call: number) => ToThread, transfer: ArrayBuffer[], fallback: (reason: string, sent: boolean) => T, read: (m: FromThread) => T, body?: AsyncIterator<unknown>): Promise<T> => {
      if (!open.has(id) || threads.current() !== w) return Promise.resolve(fallback('the delivery thread that held this connection is gone', false));
      const n = nextCall++;
      return new Promise<T>((resolve) => {
        p.calls.set(n, {
          settle: (m, reason) => {
            p.calls.delete(n);
            resolve(m ? read(m) : fallback(reason, true));
          },
          ...(body ? { body } : {}),
        });
        const err = post(w, make(n), transfer);
        if (err) {
          p.calls.delete(n);
          resolve(fallback(`could not be handed to the delivery thread: ${errorMessage(err)}`, false));
        }
      });
    };
    const client: SmtpClient = {
      host,
      ip,
      port,
      tls: c.tls,
      verified: c.verified,
      get usable() {
        return state.usable;
      },
      extensions,
      send(message) {
        // the calling thread's clock times the transaction (an injected clock stays the one the attempt records)
        const startedAt = clock.now();
        const { message: plain, transfer } = toPlainMessage(message);
        let body: AsyncIterator<unknown> | undefined;
        if (!plain.body) {
          const source = message.body();
          body = (source instanceof Readable ? source : new Readable().wrap(source))[Symbol.asyncIterator]();
        }
        // The transaction did not come back: the thread died with it (whether the server took the
        // message is unknown: a local failure, deferred and tried again), or it never left.
        const gone = (reason: string, sent: boolean): TransactionReport => {
          void body?.return?.();
          // a message that could not be handed over leaves the session as it was
          if (sent || threads.current() !== w) state.usable = false;
          const error = { kind: 'local' as const, message: sent ? `${reason} during the transaction: not known to be delivered, tried again` : reason };
          return {
            messageId: message.id,
            hop: { host, ip, port, tls: c.tls },
            recipients: message.to.map((address) => ({ address, ok: false, phase: 'data', error })),
            sessionUsable: state.usable,
            // the thread was gone before the transaction left: it goes over a new session at once
            ...(!sent && !state.usable ? { notSent: true as const } : {}),
            startedAt,
            durationMs: clock.now() - startedAt,
          };
        };
        return call<TransactionReport>(
          (n) => ({ type: 'send', id, call: n, message: plain }),
          transfer,
          gone,
          (m) => {
            if (m.type !== 'sent') return gone('the delivery thread answered out of turn', true);
            state.usable = m.usable;
            void body?.return?.();
            return { ...m.report, startedAt, durationMs: clock.now() - startedAt };
          },
          body,
        );
      },
      async close() {
        if (!open.has(id)) return;
        // The thread failed and is being stopped: the session (its socket, its slot) ends when it has.
        if (threads.current() !== w) return p.lost;
        await call<void>((n) => ({ type: 'close', id, call: n }), [], () => undefined, () => undefined);
        state.usable = false;
        open.delete(id);
        threads.refresh();
        if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
      },
    };
    return client;
  }

  const refused = (message: string): ConnectResult => ({ ok: false, result: 'connect_failed', error: { kind: 'local', message }, tls: null });

  return {
    get started() {
      return threads.started;
    },
    ready: () => threads.ready(),
    async connect(o) {
      if (closed) return refused('the delivery thread is stopped');
      if (o.signal?.aborted) return refused('aborted');
      // after a failure, the next thread (it may wait out the back-off)
      const w = threads.current() ?? (await threads.acquire());
      if (!w || closed) return refused('the delivery thread is stopped');
      if (o.signal?.aborted) return refused('aborted');
      // (a thread that failed meanwhile has had its sessions failed: this one must not wait on it)
      if (threads.current() !== w) return refused('the delivery thread stopped before the connection was handed to it');
      const id = nextId++;
      return new Promise<ConnectResult>((resolve) => {
        let markLost!: () => void;
        const lostP = new Promise<void>((r) => (markLost = r));
        const p: Pending = { worker: w, clock: o.clock, host: o.host, ip: o.ip, port: o.port, connected: resolve, calls: new Map(), lost: lostP, markLost };
        open.set(id, p);
        if (o.signal) {
          p.signal = o.signal;
          p.onAbort = () => void post(w, { type: 'abort', id });
          o.signal.addEventListener('abort', p.onAbort, { once: true });
        }
        threads.refresh();
        const err = post(w, {
          type: 'connect',
          id,
          options: { host: o.host, ip: o.ip, port: o.port, hostname: o.hostname, tls: o.tls, auth: o.auth, timeouts: { connectTimeoutMs: o.timeouts.connectTimeoutMs, greetingTimeoutMs: o.timeouts.greetingTimeoutMs, commandTimeoutMs: o.timeouts.commandTimeoutMs, dataTimeoutMs: o.timeouts.dataTimeoutMs } },
        });
        if (err) lost(id, p, `the connection could not be handed to the delivery thread: ${errorMessage(err)}`);
      });
    },
    async close() {
      closed = true;
      await threads.close();
      for (const [id, p] of [...open]) lost(id, p, 'the relay is stopping');
    },
  };
}
