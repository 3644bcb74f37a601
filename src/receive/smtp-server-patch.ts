import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection';
import { SMTPStream } from 'smtp-server/lib/smtp-stream';
import { FerryError } from '../core/errors.js';

/**
 * The only place Ferry reaches into smtp-server's internals (pinned to an exact version in
 * package.json; test/receive/smtp-server-patch.test.ts fails loudly when the shape changes).
 * Installed once, process-wide; servers that do not ask for a behaviour keep the library's own.
 *
 * 1. Enhanced codes: smtp-server prefixes every reply with an enhanced status code derived from
 *    the basic code alone (550 → 5.0.0), even when the handler's text already starts with the
 *    precise one ("5.7.1 Sender domain not allowed"), which would read "550 5.0.0 5.7.1 …". A
 *    reply whose text starts with an enhanced code keeps exactly that one.
 * 2. Greeting pause: the library waits a hard-coded 100 ms before every 220 greeting (a client
 *    that talks first is an "early talker", refused with 421). A server given the option
 *    GREETING_DELAY_OPTION — a function of the client address returning milliseconds — waits that
 *    long instead; 0 greets at once.
 * 3. AUTH before TLS: a session whose `disabledCommands` hides AUTH (Ferry does so for clients
 *    that must use STARTTLS first) is answered "538 5.7.11 Encryption required" instead of the
 *    library's "500 command not recognized", still before any credential is asked for.
 * 4. The DATA scan: the library looks for the end of DATA and for escape dots with a JavaScript
 *    loop over every byte of the message; `feedDataStream` below is the same method with that
 *    loop replaced by Buffer#indexOf of "\n." (native), which visits exactly the same positions.
 *    The library also copies every chunk after the first (Buffer.concat of the 4 bytes it held
 *    back and the chunk: a 100 KB message is copied once more on the SMTP thread, and each copy
 *    is external memory that counts towards V8's next full GC); here the held bytes are written
 *    on their own instead when no "\n." lies across the seam (lfDotAtSeam), otherwise the
 *    library's copy. Everything else in it (the first-line checks, the escape dot, the kept tail
 *    bytes, back-pressure) is the library's code unchanged. Installed for every server: it
 *    changes the CPU and memory a message costs, not what any client sees (the same bytes, cut
 *    into different chunks).
 * 5. Replies, for servers without a library logger (`logger: false`, as Ferry's are): a
 *    one-line reply below 400 whose text holds no control character is formatted and written
 *    by `sendLine` below — the same bytes as the library's `send`, without its per-reply
 *    closure, arrays, sanitising replace and debug-log object (each reply of a fresh relay runs
 *    in baseline code, where those allocations and calls are most of what a reply costs). Every
 *    other reply (multi-line, errors, 334, text with a control character) takes the library's.
 * 6. Session ids: the library draws 10 random bytes per connection and turns them into a
 *    16-character base-32 id through a BigInt. A listener without the PROXY protocol
 *    (`useProxy` unset, as Ferry's) gets ids of the same form from a per-process random prefix
 *    and a counter: unique within the process, as the sessions' maps and logs need, for a
 *    string concatenation. The rest of the library's `_handleProxy` (the ignored hosts, the
 *    callback on the next turn) is unchanged.
 */
export const GREETING_DELAY_OPTION = 'ferryGreetingDelayMs';
/** Set on a session (`session[AUTH_NEEDS_TLS]`) whose AUTH is disabled until STARTTLS. */
export const AUTH_NEEDS_TLS = 'ferryAuthNeedsTls';

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

type Fn = (...args: never[]) => unknown;
/** The library's own methods, taken before anything is patched. */
const original = SMTPConnection.prototype as unknown as Record<string, Fn | undefined>;
const originalStream = SMTPStream.prototype as unknown as Record<string, Fn | undefined>;
const originalServer = SMTPServer.prototype as unknown as Record<string, Fn | undefined>;
const ORIGINAL_HANDLE_PROXY = originalServer._handleProxy;
const ORIGINAL_EXPECTS_PROXY = originalServer._expectsProxyHeader;
const ORIGINAL_FEED = originalStream._feedDataStream;
const ORIGINAL = {
  init: original.init,
  send: original.send,
  connectionReady: original.connectionReady,
  _setListeners: original._setListeners,
  _onCommand: original._onCommand,
  _isDisabled: original._isDisabled,
  handler_EHLO: original.handler_EHLO,
};

/**
 * What the patches rely on, checked against the installed library: empty when it still has the
 * shape they were written for. Each entry names what changed.
 */
export function smtpServerShapeProblems(): string[] {
  const problems: string[] = [];
  const version = (createRequire(import.meta.url)('smtp-server/package.json') as { version: string }).version;
  if (version !== SMTP_SERVER_VERSION) problems.push(`smtp-server is ${version}, the adapter was written for ${SMTP_SERVER_VERSION}`);
  const source = (name: keyof typeof ORIGINAL, ...needles: string[]) => {
    const fn = ORIGINAL[name];
    if (typeof fn !== 'function') return problems.push(`SMTPConnection.prototype.${name} is gone`);
    const text = fn.toString();
    for (const n of needles) if (!text.includes(n)) problems.push(`SMTPConnection.prototype.${name} no longer contains ${JSON.stringify(n)}`);
    return 0;
  };
  source('init', '_setListeners(', 'this.connectionReady(), 100', 'options.maxClients', 'connections.size');
  source('connectionReady', 'onConnect(');
  source('_setListeners');
  source('send', ...SEND_NEEDLES);
  source('_onCommand', "this.send(500, 'Error: command not recognized', commandName)", '_isSupported(commandName)');
  source('_isDisabled', 'session.disabledCommands');
  source('handler_EHLO', "_isSupported('AUTH')");
  for (const [name, fn, needles] of [
    ['_handleProxy', ORIGINAL_HANDLE_PROXY, HANDLE_PROXY_NEEDLES],
    ['_expectsProxyHeader', ORIGINAL_EXPECTS_PROXY, ['isAddressAllowed(this.options.useProxy, socket.remoteAddress)']],
  ] as const) {
    if (typeof fn !== 'function') problems.push(`SMTPServer.prototype.${name} is gone`);
    else for (const n of needles) if (!fn.toString().includes(n)) problems.push(`SMTPServer.prototype.${name} no longer contains ${JSON.stringify(n)}`);
  }
  if (typeof ORIGINAL_FEED !== 'function') problems.push('SMTPStream.prototype._feedDataStream is gone');
  else {
    const text = ORIGINAL_FEED.toString();
    for (const n of FEED_NEEDLES) if (!text.includes(n)) problems.push(`SMTPStream.prototype._feedDataStream no longer contains ${JSON.stringify(n)}`);
  }
  return problems;
}

/** What sendLine copies from the library's send: if any of it changed, so must the copy. */
const SEND_NEEDLES = [
  '_getEnhancedStatusCode(code, context)',
  'code === 421',
  "replace(CONTROL_CHARS_GLOBAL, ' ')",
  'if (code >= 400) {',
  "code === 334 && payload === '334'",
  "!this._upgrading && this._socket && !this._socket.destroyed && this._socket.readyState === 'open'",
  "this._socket.write(payload + '\\r\\n')",
  "parts.join(' ')",
];

/** What the session-id shortcut replaces in the library's _handleProxy. */
const HANDLE_PROXY_NEEDLES = [
  "BigInt('0x' + crypto.randomBytes(10).toString('hex'))",
  'if (!this._expectsProxyHeader(socket)) {',
  'socketOptions.ignore = this.options.ignoredHosts && this.options.ignoredHosts.includes(socket.remoteAddress);',
  'setImmediate(() => callback(null, socketOptions));',
];

interface ConnectionInternals {
  _server: { options: Record<string, unknown>; connections: Set<unknown> };
  _socket: { destroyed: boolean; readyState: string; write(s: string): boolean };
  _upgrading: boolean;
  _getEnhancedStatusCode(code: number, context: unknown): string;
  session: Record<string, unknown>;
  name: string;
  remoteAddress: string;
  _setListeners(cb: () => void): void;
  connectionReady(): void;
  send(code: number, data: unknown, context?: unknown): void;
  init(): void;
}

export function installSmtpServerPatches(): void {
  if (installed) return;
  const problems = smtpServerShapeProblems();
  if (problems.length) throw new FerryError('FERRY_ERR_INTERNAL', `smtp-server changed shape, the adapter in src/receive/smtp-server-patch.ts needs updating: ${problems.join('; ')}`);
  installed = true;
  (SMTPStream.prototype as unknown as { _feedDataStream: typeof feedDataStream })._feedDataStream = feedDataStream;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;

  const send = proto.send;
  proto.send = function (this: ConnectionInternals, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string') {
      if (code < 400 && code !== 334 && this._server.options.logger === false && data !== '' && !hasControlChar(data)) {
        return sendLine(this, code, data, ENHANCED.test(data) ? false : context);
      }
      if (code === 500 && context === 'AUTH' && this.session?.[AUTH_NEEDS_TLS] === true) {
        return send.call(this, 538, '5.7.11 Encryption required: use STARTTLS before AUTH', false);
      }
      if (ENHANCED.test(data)) return send.call(this, code, data, false);
    }
    return send.call(this, code, data, context);
  };

  const serverProto = SMTPServer.prototype as unknown as {
    _handleProxy(this: ServerInternals, socket: { remoteAddress?: string }, callback: (err: Error | null, options: { id: string; ignore?: unknown }) => void): void;
  };
  const handleProxy = serverProto._handleProxy;
  serverProto._handleProxy = function (this: ServerInternals, socket, callback) {
    if (this.options.useProxy) return handleProxy.call(this, socket, callback);
    const ignored = this.options.ignoredHosts as string[] | undefined;
    const socketOptions = { id: nextSessionId(), ignore: ignored && ignored.includes(socket.remoteAddress as string) };
    setImmediate(() => callback(null, socketOptions));
  };

  const init = proto.init;
  proto.init = function (this: ConnectionInternals) {
    const delayOf = this._server.options[GREETING_DELAY_OPTION];
    if (typeof delayOf !== 'function') return init.call(this);
    // The library's init() with its fixed pause replaced by the server's choice.
    this._setListeners(() => {
      const max = this._server.options.maxClients as number | undefined;
      if (max && this._server.connections.size > max) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      const ms = (delayOf as (ip: string) => number)(this.remoteAddress);
      if (ms <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), ms).unref();
    });
  };
}

interface ServerInternals {
  options: Record<string, unknown>;
}

/**
 * The library's send for one line: "code[ enhanced] text" + CRLF, written only while the socket
 * is open and no TLS handshake is under way. Only called for codes below 400 other than 334 (so
 * neither session.error nor the "334 " rule nor the close after 421 applies) and for non-empty
 * text without control characters (so the library's sanitising replace would change nothing).
 */
function sendLine(conn: ConnectionInternals, code: number, text: string, context: unknown): void {
  const enhanced = conn._getEnhancedStatusCode(code, context);
  const socket = conn._socket;
  if (!conn._upgrading && socket && !socket.destroyed && socket.readyState === 'open') {
    socket.write(enhanced ? `${code} ${enhanced} ${text}\r\n` : `${code} ${text}\r\n`);
  }
}

/** The library's CONTROL_CHARS class, [\x00-\x1F\x7F-\x9F], as a loop. */
function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** Session ids: 16 base-32 characters like the library's, a random per-process prefix and a counter. */
const SESSION_ID_PREFIX = BigInt(`0x${randomBytes(4).toString('hex')}`).toString(32).padStart(7, '0').slice(-6);
let sessionCounter = 0;
function nextSessionId(): string {
  sessionCounter++;
  return SESSION_ID_PREFIX + sessionCounter.toString(32).padStart(10, '0');
}

/** What feedDataStream copies from the library's method: if any of it changed, so must the copy. */
const FEED_NEEDLES = [
  'this._lastBytes && this._lastBytes.length',
  "this._atDataStart && len >= 3 && Buffer.compare(chunk.subarray(0, 3), Buffer.from('.\\r\\n')) === 0",
  'this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e',
  'for (i = 2; i < len - 2; i++)',
  'chunk[i] === 0x2e && chunk[i - 1] === 0x0a',
  'Buffer.compare(chunk.subarray(i - 2, i + 3), END_SEQUENCE) === 0',
  'if (chunk[i + 1] === 0x2e)',
  'setImmediate(() => this._feedDataStream(rest, done))',
  'chunk.subarray(chunk.length - 4)',
  "dataStream.once('drain', onDrain)",
];

interface StreamInternals {
  _dataStream: (NodeJS.WritableStream & { writable: boolean; destroyed: boolean; write(b: Buffer): boolean }) | null;
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _countDataBytes(len: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, done: (err?: Error) => void): void;
  _feedDataStream(chunk: Buffer, done: (err?: Error) => void): void;
}

const LF_DOT = Buffer.from('\n.');

/**
 * A chunk this long or longer is scanned without the held bytes copied in front of it (shorter
 * ones: the copy is a few bytes, and the seam check needs the chunk's first two bytes).
 */
const SEAM_MIN_CHUNK = 8;

/**
 * Whether "\n." occurs in held + chunk[0..2] (held: at most 4 bytes): the only places where the
 * library's scan of held + chunk looks at a dot whose line start lies in the held bytes (dots at
 * chunk index 2 or later are seen from the chunk alone, their two bytes before included).
 */
export function lfDotAtSeam(held: Buffer, chunk: Buffer): boolean {
  const at = (k: number) => (k < held.length ? held[k] : chunk[k - held.length]);
  for (let k = 0; k <= held.length; k++) if (at(k) === 0x0a && at(k + 1) === 0x2e) return true;
  return false;
}

/**
 * smtp-server 3.21.6's SMTPStream#_feedDataStream (data mode: escape dots removed, the final dot
 * ends the message), with its per-byte search loop replaced by indexOf. The library's loop stops
 * at every i in [2, len - 2) where chunk[i] is "." and chunk[i - 1] is LF; indexOf("\n.") from
 * position 1 yields exactly those i, in order. The rest is the library's code.
 */
export function feedDataStream(this: StreamInternals, chunk: Buffer, done: (err?: Error) => void): void {
  const dataStream = this._dataStream!;
  const held = this._lastBytes;
  if (held && held.length) {
    this._lastBytes = false;
    if (!this._atDataStart && chunk.length >= SEAM_MIN_CHUNK && !lfDotAtSeam(held, chunk)) {
      // The library would scan held + chunk as one copy; nothing special lies where the two meet
      // (lfDotAtSeam), so the held bytes are message bytes already: they go first, then the chunk
      // is scanned alone — the same positions, the same bytes emitted, without copying the chunk.
      this._countDataBytes(held.length);
      if (dataStream.writable) dataStream.write(held);
    } else chunk = Buffer.concat([held, chunk], held.length + chunk.length);
  }
  let len = chunk.length;
  // ".\r\n" as the very first line ends the message (only at the start of DATA: see the library)
  if (this._atDataStart && len >= 3 && chunk[0] === 0x2e && chunk[1] === 0x0d && chunk[2] === 0x0a) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
    chunk = chunk.subarray(1);
    len--;
    this._atDataStart = false;
  }
  for (let lf = chunk.indexOf(LF_DOT, 1); lf !== -1 && lf + 1 < len - 2; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const i = lf + 1;
    // "\r\n.\r\n": chunk[i - 1] and chunk[i] are known to be "\n" and "."
    if (chunk[i - 2] === 0x0d && chunk[i + 1] === 0x0d && chunk[i + 2] === 0x0a) {
      const buf = chunk.subarray(0, i);
      this._countDataBytes(buf.length);
      this._endDataMode(buf, chunk.subarray(i + 3), done);
      return;
    }
    if (chunk[i + 1] === 0x2e) {
      const buf = chunk.subarray(0, i);
      this._lastBytes = false;
      this._countDataBytes(buf.length);
      if (dataStream.writable) dataStream.write(buf);
      const rest = chunk.subarray(i + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length < chunk.length) {
    const buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
    this._countDataBytes(buf.length);
    if (dataStream.writable) {
      const handled = dataStream.write(buf);
      if (!handled && !dataStream.destroyed) {
        const onDrain = () => {
          dataStream.removeListener('drain', onDrain);
          dataStream.removeListener('close', onDrain);
          done();
        };
        dataStream.once('drain', onDrain);
        dataStream.once('close', onDrain);
      } else return done();
    } else return done();
  } else return done();
}

/** The library's own reply writer, kept for the equivalence test. */
export const librarySend = ORIGINAL.send as unknown as (this: unknown, code: number, data: unknown, context?: unknown) => void;

/** The library's own data-mode method, kept for the equivalence test. */
export const libraryFeedDataStream = ORIGINAL_FEED as unknown as typeof feedDataStream;

/** The library version this adapter was written against (package.json pins exactly this). */
export const SMTP_SERVER_VERSION = '3.21.6';
