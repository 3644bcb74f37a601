import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FerryError, type FerryErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { PickedKeys, SignOffload, SignResult } from './signer.js';
import type { StoredBodyRef } from '../core/store-types.js';

/**
 * DKIM signing on worker threads, so the body hash and the RSA signature of a message run on
 * another core than the SMTP sessions.
 *
 * The contract is two plain messages (SignRequest out, SignReply back); nothing is shared. Keys
 * cross as KeyObjects (cloned by Node's structured clone, never as PEM text, never logged).
 * The body crosses as bytes (inline messages), or as the spool file's path or the store row it is
 * in (messages.head's bodyRef): the thread reads those itself.
 *
 * A thread that dies (a crash, an out-of-memory) fails only the jobs it held, with
 * FERRY_ERR_SIGN_WORKER: the caller keeps the message queued and tries it again; the pool starts
 * a new thread for the next job. A job that fails inside a healthy thread (a header block over
 * the limit) is answered with its own error code, as an in-process signer would throw it.
 */
export interface SignRequest {
  id: number;
  picked: PickedKeys;
  /** a SignSource whose bytes arrive as Uint8Array (structured clone) */
  source: { headers: Uint8Array; inline: Uint8Array | null; file: string | null; row?: StoredBodyRef | null };
  t: number | null;
  maxHeaderBytes: number;
}

export type SignReply = { id: number; ok: true; result: SignResult } | { id: number; ok: false; code: FerryErrorCode; message: string };

export interface SignPool extends SignOffload {
  readonly threads: number;
  /** Threads started since the pool was made (more than `threads`: some were replaced). */
  readonly started: number;
  close(): Promise<void>;
}

/** sign.threads "auto": one thread per core beyond the first (the SMTP thread's), 1 to 4. */
export function autoSignThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1));
}

interface Pending {
  resolve(r: SignResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker | null;
  pending: Map<number, Pending>;
}

// Under the TypeScript test runner this module is a .ts file, and so is its worker.
const DEFAULT_WORKER = new URL(import.meta.url.endsWith('.ts') ? './sign-worker.ts' : './sign-worker.js', import.meta.url);

export function createSignPool(options: { threads: number; logger: Logger; workerUrl?: URL }): SignPool {
  if (!Number.isInteger(options.threads) || options.threads < 1) throw new FerryError('FERRY_ERR_CONFIG', `sign.threads: ${options.threads}: a pool needs at least one thread`);
  const url = options.workerUrl ?? DEFAULT_WORKER;
  const slots: Slot[] = Array.from({ length: options.threads }, () => ({ worker: null, pending: new Map() }));
  let nextId = 1;
  let started = 0;
  let closed = false;

  function start(slot: Slot): Worker {
    const worker = new Worker(url);
    started++;
    slot.worker = worker;
    let answered = 0;
    worker.on('message', (reply: SignReply) => {
      answered++;
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (reply.ok) {
        // a body handed back arrives as a Uint8Array: the same memory as a Buffer
        const b = reply.result.body as Uint8Array | undefined;
        if (b && !Buffer.isBuffer(b)) reply.result.body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        p.resolve(reply.result);
      }
      else p.reject(new FerryError(reply.code, reply.message, { phase: 'sign' }));
    });
    // 'error' (an uncaught exception) is followed by 'exit'; the jobs are failed there, once.
    worker.on('error', (err) => options.logger.error({ err: err.message, threadId: worker.threadId }, 'signing thread crashed'));
    worker.on('exit', (code) => {
      if (slot.worker === worker) {
        slot.worker = null;
        // A thread that had worked is replaced at once; one that died before answering anything
        // (its code cannot load?) is retried only by the next job, so a broken install cannot
        // turn into a loop of thread starts.
        if (!closed && answered > 0) start(slot);
      }
      if (slot.pending.size === 0) return;
      const lost = [...slot.pending.values()];
      slot.pending.clear();
      if (!closed) options.logger.warn({ exitCode: code, jobs: lost.length }, 'signing thread stopped with jobs in hand: those messages stay queued and are tried again; a new thread takes the next job');
      const reason = closed ? 'the relay is stopping' : `the signing thread stopped (exit code ${code})`;
      for (const p of lost) p.reject(new FerryError('FERRY_ERR_SIGN_WORKER', `${reason}: not signed, the message stays queued`, { phase: 'sign' }));
    });
    // A thread waiting for work does not keep the process alive.
    worker.unref();
    return worker;
  }

  // Started now, not at the first message: a thread takes a moment to load its code.
  for (const slot of slots) start(slot);

  return {
    threads: options.threads,
    get started() {
      return started;
    },
    sign(picked, source, t, maxHeaderBytes) {
      if (closed) return Promise.reject(new FerryError('FERRY_ERR_SIGN_WORKER', 'the signing threads are stopped', { phase: 'sign' }));
      // the least busy thread (ties: the first)
      const slot = slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
      const worker = slot.worker ?? start(slot);
      const id = nextId++;
      // Exact-size copies, handed over (transferred) rather than cloned: a Buffer is often a view
      // into a larger ArrayBuffer, and a clone would copy all of it.
      const headers = new Uint8Array(source.headers);
      // (a body left in the store is read there by its row: its bytes, if at hand, are not sent along)
      const inline = source.inline && !source.row ? new Uint8Array(source.inline) : null;
      const req: SignRequest = {
        id,
        // only what signing needs: no key file paths, nothing else of the key rows
        picked: { domain: picked.domain, keys: picked.keys.map((k) => ({ domain: k.domain, selector: k.selector, algorithm: k.algorithm, privateKey: k.privateKey })) },
        // a body left in the store is read by the thread itself (source.row): no copy of it here
        source: { headers, inline, file: source.file, row: source.row ?? null },
        t,
        maxHeaderBytes,
      };
      return new Promise<SignResult>((resolve, reject) => {
        // A thread with work in hand keeps the process alive until it answers; an idle one does not.
        const settled = () => {
          if (slot.pending.size === 0) worker.unref();
        };
        slot.pending.set(id, {
          resolve: (r) => (settled(), resolve(r)),
          reject: (e) => (settled(), reject(e)),
        });
        if (slot.pending.size === 1) worker.ref();
        worker.postMessage(req, inline ? [headers.buffer, inline.buffer] : [headers.buffer]);
      });
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s.worker?.terminate()));
    },
  };
}
