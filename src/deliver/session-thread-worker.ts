import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { systemClock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { connectSmtp, type SmtpClient } from './connection.js';
import type { FromThread, PlainBody, PlainMessage, ToThread } from './session-thread.js';
import type { OutgoingMessage } from './types.js';
import { readStoredBody } from '../store/sqlite/stored-bodies.js';

/**
 * The delivery thread (see session-thread.ts for the contract): runs connectSmtp and the
 * sessions it opens, one per connect id, on real time. Holds nothing but those sessions.
 */

if (!parentPort) throw new Error('session-thread-worker.ts runs as a worker thread only');
const port = parentPort;

interface Session {
  abort: AbortController;
  client: SmtpClient | null;
  /** body pulls waiting for their chunk, by call */
  pulls: Map<number, (chunk: { chunk: Uint8Array | null; error?: string }) => void>;
}

const sessions = new Map<number, Session>();

const reply = (m: FromThread): void => {
  try {
    port.postMessage(m);
  } catch (err) {
    // A value that cannot be cloned (a bug): its JSON copy still carries the facts (replies,
    // errors) as plain data, so a transaction the server took is not reported as lost.
    if ((err as { name?: unknown } | null)?.name !== 'DataCloneError') throw err;
    port.postMessage(JSON.parse(JSON.stringify(m)) as FromThread);
  }
};

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The stored message as the spool opens it: header block, then the inline bytes or the file.
 * Two chunks rather than one joined copy: the dot-stuffing carries the last byte across chunks.
 */
function plainBodyStream(b: PlainBody): Readable {
  const headers = asBuffer(b.headers);
  if (b.file === null && b.row && !b.inline) {
    const row = b.row;
    // read when the transaction gets to DATA (a failure, e.g. the message purged meanwhile, fails it locally: retried)
    return Readable.from(
      (function* () {
        yield headers;
        yield readStoredBody(row);
      })(),
      { objectMode: false },
    );
  }
  if (b.file === null) return Readable.from(b.inline && b.inline.length ? [headers, asBuffer(b.inline)] : [headers]);
  const file = b.file;
  return Readable.from(
    (async function* () {
      yield headers;
      yield* createReadStream(file, { highWaterMark: 256 * 1024 });
    })(),
    { objectMode: false },
  );
}

/** A body that lives on the calling thread: one chunk asked for at a time. */
function pulledBodyStream(id: number, call: number, s: Session): Readable {
  return new Readable({
    read() {
      const got = new Promise<{ chunk: Uint8Array | null; error?: string }>((resolve) => s.pulls.set(call, resolve));
      reply({ type: 'pull', id, call });
      void got.then((r) => {
        s.pulls.delete(call);
        if (r.error !== undefined) this.destroy(new Error(r.error));
        else this.push(r.chunk ? asBuffer(r.chunk) : null);
      });
    },
  });
}

function outgoing(id: number, call: number, s: Session, m: PlainMessage): OutgoingMessage {
  const out: OutgoingMessage = {
    id: m.id,
    from: m.from,
    to: m.to,
    size: m.size,
    eightBit: m.eightBit,
    smtputf8: m.smtputf8,
    body: () => (m.body ? plainBodyStream(m.body) : pulledBodyStream(id, call, s)),
  };
  if (m.dsn) out.dsn = m.dsn;
  if (m.requireTls !== undefined) out.requireTls = m.requireTls;
  if (m.tlsRequiredNo !== undefined) out.tlsRequiredNo = m.tlsRequiredNo;
  return out;
}

async function handle(m: ToThread): Promise<void> {
  switch (m.type) {
    case 'connect': {
      const s: Session = { abort: new AbortController(), client: null, pulls: new Map() };
      sessions.set(m.id, s);
      const o = m.options;
      // TLSA data crosses as Uint8Array (structured clone): the matcher wants Buffers
      const tls = o.tls.tlsa ? { ...o.tls, tlsa: o.tls.tlsa.map((r) => ({ ...r, data: Buffer.from(r.data) })) } : o.tls;
      const res = await connectSmtp({
        ...o,
        tls,
        clock: systemClock,
        signal: s.abort.signal,
        onEnd: () => {
          if (sessions.get(m.id) === s) reply({ type: 'ended', id: m.id });
        },
      });
      if (!res.ok) {
        sessions.delete(m.id);
        reply({ type: 'connected', id: m.id, result: res });
        return;
      }
      s.client = res.client;
      reply({
        type: 'connected',
        id: m.id,
        result: { ok: true, tls: res.tls, client: { tls: res.client.tls, verified: res.client.verified, extensions: [...res.client.extensions] } },
      });
      return;
    }
    case 'send': {
      const s = sessions.get(m.id);
      if (!s?.client) throw new Error(`send on session ${m.id}, which is not open`);
      const report = await s.client.send(outgoing(m.id, m.call, s, m.message));
      reply({ type: 'sent', id: m.id, call: m.call, report, usable: s.client.usable });
      return;
    }
    case 'chunk': {
      sessions.get(m.id)?.pulls.get(m.call)?.(m.error !== undefined ? { chunk: null, error: m.error } : { chunk: m.chunk });
      return;
    }
    case 'close': {
      const s = sessions.get(m.id);
      sessions.delete(m.id);
      await s?.client?.close();
      reply({ type: 'closed', id: m.id, call: m.call });
      return;
    }
    case 'abort': {
      sessions.get(m.id)?.abort.abort();
      return;
    }
    case 'ping': {
      reply({ type: 'pong', id: 0 });
      return;
    }
  }
}

// A message that cannot be read: which session it was for is unknown, so the thread gives up
// (an uncaught exception: the calling thread fails its sessions and starts a new one).
port.on('messageerror', (err) => {
  throw err;
});

port.on('message', (m: ToThread) => {
  handle(m).catch(async (err: unknown) => {
    const s = sessions.get(m.id);
    sessions.delete(m.id);
    // reported once its socket has closed: the calling thread releases the connection's slot then
    await s?.client?.close().catch(() => undefined);
    reply({ type: 'failed', id: m.id, call: 'call' in m ? m.call : null, message: errorMessage(err) });
  });
});

reply({ type: 'ready', id: 0 });
