import { parentPort } from 'node:worker_threads';
import { FerryError } from '../core/errors.js';
import { lowerThisThreadPriority } from '../core/thread-priority.js';
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

if (parentPort) {
  const port = parentPort;
  // Signing is throughput, the SMTP thread's loop is latency: when the cores are busy, it goes
  // first (core/thread-priority.ts). Best effort: where this cannot be done the thread keeps the
  // process's priority, which changes nothing but who waits for a CPU.
  lowerThisThreadPriority();
  port.on('message', (req: SignRequest) => {
    // A body read from the store here goes back to be sent: moved (transferred), not copied.
    void handle(req).then((reply) => {
      const body = reply.ok ? reply.result.body : undefined;
      const own = body && body.byteOffset === 0 && body.buffer.byteLength === body.byteLength;
      if (reply.ok && body && !own) delete reply.result.body;
      port.postMessage(reply, own ? [body.buffer as ArrayBuffer] : []);
    });
  });
}
