import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { FerryError } from '../core/errors.js';
import { stuffChunk } from './dot-stuffing.js';

/**
 * The only place Ferry reaches into nodemailer's internals (pinned to an exact version in
 * package.json; test/deliver/nodemailer-adapter.test.ts fails loudly when the shape changes).
 *
 * 1. Reads of the SMTP client's private state a relay must know and nodemailer does not expose:
 *    the socket (TLS details, the DATA timeout, when it has closed: watchSockets), the EHLO
 *    extensions and SIZE limit (8BITMIME, SIZE checks before sending), and the recipients
 *    refused in the current envelope.
 * 2. Dot-stuffing on the way out: DataStream._transform replaced by stuffChunk (src/deliver/
 *    dot-stuffing.ts, the same bytes, found with Buffer.indexOf rather than a per-byte loop).
 */
export const NODEMAILER_VERSION = '10.6.1';

/** The refusal nodemailer keeps for each recipient of the envelope in progress. */
export interface RejectedRecipientError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
}

interface ClientInternals {
  _socket: Socket | false;
  _supportedExtensions: string[];
  _maxAllowedSize: number;
  _envelope: false | { rejectedErrors?: RejectedRecipientError[] };
}

/** The client's private state, read-only, by name rather than by underscore. */
export function clientInternals(conn: SMTPConnection) {
  const c = conn as unknown as ClientInternals;
  return {
    /** the socket (a TLSSocket once secure); null before connecting */
    socket: (): Socket | null => c._socket || null,
    /** EHLO extensions the server announced (after STARTTLS when used), upper case */
    extensions: (): string[] => [...(c._supportedExtensions ?? [])],
    /** the server's SIZE limit; 0: none announced */
    maxAllowedSize: (): number => c._maxAllowedSize ?? 0,
    /** recipients refused in the envelope being sent */
    rejectedErrors: (): RejectedRecipientError[] | undefined => (c._envelope ? c._envelope.rejectedErrors : undefined),
  };
}

/**
 * Every socket the client holds over its life (the TCP socket, then the TLS socket over it after
 * STARTTLS), seen as nodemailer assigns them. nodemailer reports a connection's end ('end') as
 * soon as it has asked its socket to close — on a 221 to QUIT, before the FIN has even been
 * written (the write waits for the thread's next turn of its event loop) and up to its
 * socketCloseTimeout before the socket is gone. A connection counts against its destination's
 * caps until then, so the caller waits for `closed()`.
 */
export interface SocketWatch {
  /** Resolves once every socket the client has held has emitted 'close' (at once when it never had one). */
  closed(): Promise<void>;
  /** Destroys every socket still open (the bound on closed() when a socket will not close by itself). */
  destroy(): void;
}

export function watchSockets(conn: SMTPConnection): SocketWatch {
  const c = conn as unknown as ClientInternals;
  const sockets: { socket: Socket; closed: Promise<void> }[] = [];
  const watch = (socket: Socket | false): void => {
    if (!socket || sockets.some((s) => s.socket === socket)) return;
    const closed = socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once('close', () => resolve()));
    sockets.push({ socket, closed });
  };
  let current = c._socket;
  watch(current);
  Object.defineProperty(c, '_socket', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (v: Socket | false) => {
      current = v;
      watch(v);
    },
  });
  return {
    closed: async () => {
      // a socket assigned while the earlier ones closed (a TLS upgrade under way) is waited for too
      let seen = 0;
      while (seen < sockets.length) {
        const batch = sockets.slice(seen);
        seen = sockets.length;
        await Promise.all(batch.map((s) => s.closed));
      }
    },
    destroy: () => {
      for (const s of sockets) if (!s.socket.destroyed) s.socket.destroy();
    },
  };
}

interface DataStreamInternals {
  inByteCount: number;
  outByteCount: number;
  lastByte: number | false;
  push(chunk: Buffer): boolean;
}

/** The transform nodemailer ships, kept for the equivalence test. */
export const nodemailerTransform = (DataStream.prototype as unknown as { _transform: (...a: unknown[]) => void })._transform;
const nodemailerFlush = (DataStream.prototype as unknown as { _flush?: (...a: unknown[]) => void })._flush;

/**
 * What the adapter relies on, checked against the installed library: empty when it still has
 * the shape this file was written for. Each entry names what changed.
 */
export function nodemailerShapeProblems(): string[] {
  const problems: string[] = [];
  const version = (createRequire(import.meta.url)('nodemailer/package.json') as { version: string }).version;
  if (version !== NODEMAILER_VERSION) problems.push(`nodemailer is ${version}, the adapter was written for ${NODEMAILER_VERSION}`);
  // The private fields are set in the constructor; making a client opens no connection.
  const c = new SMTPConnection({ host: '127.0.0.1', port: 9 }) as unknown as Record<string, unknown>;
  if (c._socket !== false) problems.push('a new SMTPConnection no longer starts with _socket = false');
  if (c._envelope !== false) problems.push('a new SMTPConnection no longer starts with _envelope = false');
  if (!Array.isArray(c._supportedExtensions)) problems.push('SMTPConnection._supportedExtensions is no longer an array');
  if (c._maxAllowedSize !== 0) problems.push('SMTPConnection._maxAllowedSize is no longer a number starting at 0');
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
  const has = (fn: unknown, needle: string, what: string) => {
    if (typeof fn !== 'function') problems.push(`${what} is gone`);
    else if (!fn.toString().includes(needle)) problems.push(`${what} no longer contains ${JSON.stringify(needle)}`);
  };
  has(proto._parseEhloExtensions, '_supportedExtensions', 'SMTPConnection.prototype._parseEhloExtensions');
  has(proto._parseEhloExtensions, '_maxAllowedSize', 'SMTPConnection.prototype._parseEhloExtensions');
  has(proto._actionRCPT, 'rejectedErrors', 'SMTPConnection.prototype._actionRCPT');
  has(proto._createSendStream, 'dataStream', 'SMTPConnection.prototype._createSendStream');
  // watchSockets sees each socket as it is assigned to _socket (connect, then the STARTTLS upgrade)
  has(proto._connectToHost, 'this._socket = ', 'SMTPConnection.prototype._connectToHost');
  has(proto._upgradeConnection, 'this._socket = ', 'SMTPConnection.prototype._upgradeConnection');
  // the replacement keeps the counters and lastByte that nodemailer's _flush and callers read
  has(nodemailerTransform, 'lastByte', 'DataStream.prototype._transform');
  has(nodemailerTransform, 'inByteCount', 'DataStream.prototype._transform');
  has(nodemailerTransform, 'outByteCount', 'DataStream.prototype._transform');
  has(nodemailerFlush, 'lastByte', 'DataStream.prototype._flush');
  return problems;
}

let installed = false;

/** Replaces nodemailer's per-byte dot-stuffing transform with stuffChunk (once, process-wide). */
export function installFastDotStuffing(): void {
  if (installed) return;
  const problems = nodemailerShapeProblems();
  if (problems.length) throw new FerryError('FERRY_ERR_INTERNAL', `nodemailer changed shape, the adapter in src/deliver/nodemailer-adapter.ts needs updating: ${problems.join('; ')}`);
  installed = true;
  const proto = DataStream.prototype as unknown as { _transform: (this: DataStreamInternals, chunk: Buffer | string, enc: string, done: () => void) => void };
  proto._transform = function transform(this: DataStreamInternals, input, _enc, done) {
    if (!input || !input.length) return done();
    const chunk = typeof input === 'string' ? Buffer.from(input) : input;
    this.inByteCount += chunk.length;
    const out = stuffChunk(chunk, this.lastByte);
    this.outByteCount += out.length;
    this.push(out);
    this.lastByte = chunk[chunk.length - 1]!;
    done();
  };
}
