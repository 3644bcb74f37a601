import { getPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { FerryError } from '../core/errors.js';
import { lowerThisThreadPriority, THROUGHPUT_THREAD_NICENESS } from '../core/thread-priority.js';
import { signPicked } from './signer.js';
import type { SignReply, SignRequest } from './pool.js';

/**
 * A signing thread: reads one message (inline bytes, its spool file, or its store row), hashes the body,
 * signs with the keys it was handed, and answers. It keeps nothing between jobs — no key cache,
 * no state — so a restarted thread is the same as the one it replaces. It logs nothing: what
 * went wrong goes back to the pool as a code and a sentence, never key material.
 */
export async function handle(req: SignRequest): Promise<SignReply> {
  try {
    const source = { headers: asBuffer(req.source.headers), inline: req.source.inline ? asBuffer(req.source.inline) : null, file: req.source.file, row: req.source.row ?? null };
    const result = await signPicked(req.picked, source, req.t, req.maxHeaderBytes);
    return { id: req.id, ok: true, result };
  } catch (err) {
    const code = err instanceof FerryError ? err.code : 'FERRY_ERR_DKIM';
    return { id: req.id, ok: false, code, message: err instanceof Error ? err.message : String(err) };
  }
}

/** A structured clone of a Buffer arrives as a plain Uint8Array: view it as a Buffer without copying. */
function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * A signing thread's nice value: THROUGHPUT_THREAD_NICENESS below the SMTP thread's, not below
 * the process's. The SMTP thread raises itself to -10 where it may (receive/smtp-thread-priority.ts);
 * a signing thread at 10 is then ~87× lighter than it instead of ~9×, and the SMTP thread waited
 * on it: it blocked on locks a signing thread held (futex waits woken by the signing thread, up
 * to 43 ms in one 2.5 s load, bench/RESULTS.md loopp99) while that thread waited for a CPU.
 * Never above the process's normal priority (0): that needs a privilege a thread cannot count on.
 */
export function signingNiceness(smtpThreadNice: number): number {
  return Math.min(19, Math.max(0, smtpThreadNice + THROUGHPUT_THREAD_NICENESS));
}

/** The SMTP (main) thread's nice value; Linux nice is per thread and the main thread's id is the process id. Unknown: 0. */
function smtpThreadNice(): number {
  try {
    return getPriority(process.pid);
  } catch {
    // no getpriority for it: as if it ran at the normal priority
    return 0;
  }
}

if (parentPort) {
  const port = parentPort;
  // Signing is throughput, the SMTP thread's loop is latency: when the cores are busy, it goes
  // first (core/thread-priority.ts). Best effort: where this cannot be done the thread keeps the
  // priority it was started with, which changes nothing but who waits for a CPU. Looked at again
  // before each job: a signing thread may start before the SMTP thread raises itself (measured: it
  // then stayed at 10 under an SMTP thread at -10, which blocked on it for up to 248 ms); one
  // getpriority per message, against ~0.8 ms of signing.
  let niceness = -1;
  const follow = (): void => {
    const want = signingNiceness(smtpThreadNice());
    if (want !== niceness && lowerThisThreadPriority(want).ok) niceness = want;
  };
  follow();
  port.on('message', (req: SignRequest) => {
    follow();
    // A body read from the store here goes back to be sent: moved (transferred), not copied.
    void handle(req).then((reply) => {
      const body = reply.ok ? reply.result.body : undefined;
      const own = body && body.byteOffset === 0 && body.buffer.byteLength === body.byteLength;
      if (reply.ok && body && !own) delete reply.result.body;
      port.postMessage(reply, own ? [body.buffer as ArrayBuffer] : []);
    });
  });
}
