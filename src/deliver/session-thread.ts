import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { errorMessage, FerryError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TlsInfo } from '../core/types.js';
import type { ConnectOptions, ConnectResult, ConnectionTls, SmtpClient } from './connection.js';
import type { DeliveryTimeouts, HopTls, OutgoingDsn, OutgoingMessage, TransactionReport } from './types.js';

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
 * a body that only exists as a stream (PostgreSQL chunk rows) is pulled chunk by chunk over the
 * port, one chunk in flight at a time. An AbortSignal crosses as an 'abort' message.
 *
 * A thread that dies fails what it held, the way a dropped connection would: an open that had
 * not finished is a failed connect, a transaction in flight ends with the connection lost (the
 * recipients are deferred, as after any broken connection), and its sessions are unusable. The
 * next connect starts a new thread.
 */

/** A message body the delivery thread reads itself. file: an absolute path; null: the bytes are inline. */
export interface PlainBody {
  headers: Uint8Array;
  inline: Uint8Array | null;
  file: string | null;
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
  | { type: 'abort'; id: number };

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
  | { type: 'ready'; id: 0 };

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

export function toPlainMessage(message: OutgoingMessage): { message: PlainMessage; transfer: ArrayBuffer[] } {
  const source = message.bodySource?.() ?? null;
  const transfer: ArrayBuffer[] = [];
  let body: PlainBody | null = null;
  if (source) {
    body = { headers: own(source.headers), inline: source.inline ? own(source.inline) : null, file: source.file };
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
  clock: Clock;
  host: string;
  ip: string;
  port: number;
  /** settles the connect (before 'connected') */
  connected?: (r: ConnectResult) => void;
  calls: Map<number, { settle: (m: FromThread | null) => void; body?: AsyncIterator<unknown> }>;
  session?: { usable: boolean };
  signal?: AbortSignal;
  onAbort?: () => void;
}

export function createSessionThread(options: { logger: Logger; workerUrl?: URL }): SessionThread {
  const url = options.workerUrl ?? DEFAULT_WORKER;
  let worker: Worker | null = null;
  let started = 0;
  let closed = false;
  let nextId = 1;
  let nextCall = 1;
  const open = new Map<number, Pending>();

  // The thread is referenced while it holds a session (a delivery in progress keeps the process
  // alive, as its socket would on this thread); idle, it does not.
  const refresh = (): void => {
    if (open.size > 0) worker?.ref();
    else worker?.unref();
  };

  const lost = (id: number, p: Pending, reason: string): void => {
    open.delete(id);
    refresh();
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    if (p.session) p.session.usable = false;
    p.connected?.({ ok: false, result: 'connect_failed', error: { kind: 'local', message: reason }, tls: null });
    for (const c of p.calls.values()) c.settle(null);
    p.calls.clear();
  };

  let loaded: Promise<void> = Promise.resolve();

  function start(): Worker {
    const w = new Worker(url);
    started++;
    worker = w;
    loaded = new Promise<void>((resolve, reject) => {
      w.on('message', (m: FromThread) => {
        if (m.type === 'ready') resolve();
      });
      w.once('exit', (code) => reject(new FerryError('FERRY_ERR_INTERNAL', `the delivery thread stopped before it was ready (exit code ${code})`)));
    });
    // a start nobody waits for must not be an unhandled rejection
    loaded.catch(() => undefined);
    w.on('message', (m: FromThread) => onMessage(w, m));
    w.on('error', (err) => options.logger.error({ err: err.message, threadId: w.threadId }, 'delivery thread crashed'));
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      if (open.size === 0) return;
      const reason = closed ? 'the relay is stopping' : `the delivery thread stopped (exit code ${code})`;
      if (!closed) options.logger.warn({ exitCode: code, sessions: open.size }, 'delivery thread stopped with sessions open: their messages stay queued; a new thread takes the next session');
      for (const [id, p] of [...open]) lost(id, p, reason);
    });
    // A thread with no session open does not keep the process alive (once it has loaded: a
    // caller waiting for ready() must not see the process end under it).
    loaded.then(refresh, () => undefined);
    return w;
  }

  const post = (w: Worker, m: ToThread, transfer: ArrayBuffer[] = []): void => {
    w.postMessage(m, transfer);
  };

  function onMessage(w: Worker, m: FromThread): void {
    if (m.type === 'ready') return;
    const p = open.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'connected': {
        const settle = p.connected;
        delete p.connected;
        if (!m.result.ok) {
          open.delete(m.id);
          refresh();
          if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
          settle?.(m.result);
          return;
        }
        settle?.({ ok: true, tls: m.result.tls, client: remoteClient(w, m.id, p, m.result.client, p.clock) });
        return;
      }
      case 'sent':
      case 'closed':
        p.calls.get(m.call)?.settle(m);
        return;
      case 'pull': {
        const c = p.calls.get(m.call);
        if (!c?.body) return;
        const it = c.body;
        it.next().then(
          (r) => {
            if (r.done) post(w, { type: 'chunk', id: m.id, call: m.call, chunk: null });
            else {
              const chunk = own(typeof r.value === 'string' ? Buffer.from(r.value) : (r.value as Uint8Array));
              post(w, { type: 'chunk', id: m.id, call: m.call, chunk }, [chunk.buffer as ArrayBuffer]);
            }
          },
          (err: unknown) => post(w, { type: 'chunk', id: m.id, call: m.call, chunk: null, error: errorMessage(err) }),
        );
        return;
      }
      case 'ended':
        if (p.session) p.session.usable = false;
        return;
      case 'failed':
        options.logger.error({ error: m.message }, 'delivery thread: a session failed inside the thread');
        lost(m.id, p, `delivery thread: ${m.message}`);
        return;
    }
  }

  function remoteClient(w: Worker, id: number, p: Pending, c: { tls: TlsInfo | null; verified: boolean; extensions: string[] }, clock: Clock): SmtpClient {
    const { host, ip, port } = p;
    const state = { usable: true };
    p.session = state;
    const extensions: readonly string[] = Object.freeze([...c.extensions]);
    const call = <T>(make: (call: number) => ToThread, transfer: ArrayBuffer[], fallback: () => T, read: (m: FromThread) => T, body?: AsyncIterator<unknown>): Promise<T> => {
      if (!open.has(id) || worker !== w) return Promise.resolve(fallback());
      const n = nextCall++;
      return new Promise<T>((resolve) => {
        p.calls.set(n, {
          settle: (m) => {
            p.calls.delete(n);
            resolve(m ? read(m) : fallback());
          },
          ...(body ? { body } : {}),
        });
        post(w, make(n), transfer);
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
        // the thread is gone: the connection went with it (a lost connection, before or during the transfer)
        const gone = (): TransactionReport => {
          state.usable = false;
          void body?.return?.();
          return {
            messageId: message.id,
            hop: { host, ip, port, tls: c.tls },
            recipients: message.to.map((address) => ({ address, ok: false, phase: 'data', error: { kind: 'connect', message: 'the delivery thread stopped during the transaction' } })),
            sessionUsable: false,
            startedAt,
            durationMs: clock.now() - startedAt,
          };
        };
        return call<TransactionReport>(
          (n) => ({ type: 'send', id, call: n, message: plain }),
          transfer,
          gone,
          (m) => {
            if (m.type !== 'sent') return gone();
            state.usable = m.usable;
            void body?.return?.();
            return { ...m.report, startedAt, durationMs: clock.now() - startedAt };
          },
          body,
        );
      },
      async close() {
        if (!open.has(id)) return;
        await call<void>((n) => ({ type: 'close', id, call: n }), [], () => undefined, () => undefined);
        state.usable = false;
        open.delete(id);
        refresh();
        if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
      },
    };
    return client;
  }

  // Started now, not at the first session: a thread takes a moment to load its code.
  start();

  return {
    get started() {
      return started;
    },
    ready: () => loaded,
    connect(o) {
      if (closed) return Promise.resolve({ ok: false, result: 'connect_failed', error: { kind: 'local', message: 'the delivery thread is stopped' }, tls: null });
      if (o.signal?.aborted) return Promise.resolve({ ok: false, result: 'connect_failed', error: { kind: 'local', message: 'aborted' }, tls: null });
      const w = worker ?? start();
      const id = nextId++;
      return new Promise<ConnectResult>((resolve) => {
        const p: Pending = { clock: o.clock, host: o.host, ip: o.ip, port: o.port, connected: resolve, calls: new Map() };
        open.set(id, p);
        if (o.signal) {
          const w0 = w;
          p.signal = o.signal;
          p.onAbort = () => post(w0, { type: 'abort', id });
          o.signal.addEventListener('abort', p.onAbort, { once: true });
        }
        refresh();
        post(w, {
          type: 'connect',
          id,
          options: { host: o.host, ip: o.ip, port: o.port, hostname: o.hostname, tls: o.tls, auth: o.auth, timeouts: { connectTimeoutMs: o.timeouts.connectTimeoutMs, greetingTimeoutMs: o.timeouts.greetingTimeoutMs, commandTimeoutMs: o.timeouts.commandTimeoutMs, dataTimeoutMs: o.timeouts.dataTimeoutMs } },
        });
      });
    },
    async close() {
      closed = true;
      const w = worker;
      worker = null;
      if (w) await w.terminate();
      for (const [id, p] of [...open]) lost(id, p, 'the relay is stopping');
    },
  };
}
