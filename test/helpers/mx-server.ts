import { livenessBound } from './liveness.js';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { testCert } from './tls.js';

/**
 * A scripted recipient MX on a loopback address, for delivery tests.
 *
 * Default mode is a real smtp-server. Replies the script sets come out exactly as given
 * ("550 5.1.1 No such user"): enhanced codes are hidden in smtp-server so it does not prefix its
 * own; put the enhanced code in `message` yourself. smtp-server cannot send a multi-line error
 * reply or stall at the greeting, so `raw: true` runs a small hand-written SMTP server instead
 * (no STARTTLS) that can.
 */
export interface MxReply {
  code: number;
  /** string[]: a multi-line reply (raw mode; smtp-server mode joins the lines with a space) */
  message: string | string[];
}

export interface MxEnvelope {
  from: string;
  to: string[];
  /** With `dsn: true`: the RFC 3461 parameters the client sent (RET/ENVID, and NOTIFY/ORCPT per recipient). */
  dsn?: { ret: string | null; envid: string | null; rcpt: { notify: string[] | null; orcpt: string | null }[] };
  /** With `requireTls: true`: whether MAIL FROM carried REQUIRETLS (RFC 8689). */
  requireTls?: boolean;
}

export interface MxScript {
  /** null: the normal 220; a reply: refuse the connection with it; 'stall': never greet (raw only) */
  greeting: MxReply | 'stall' | null;
  mailFrom: (from: string) => MxReply | null;
  /** null accepts the recipient */
  rcpt: (address: string) => MxReply | null;
  /** The reply to the final dot; n counts messages on this server from 1. null: 250 accepted. */
  data: (n: number, envelope: MxEnvelope) => MxReply | null;
  /**
   * stall: read the whole message, never answer; reset: drop the connection (RST) once body bytes
   * arrive; reset-after-reply: answer the final dot, then close the connection at once.
   */
  dataFault: 'stall' | 'reset' | 'reset-after-reply' | null;
  /** wait this long before answering the final dot (a slow but honest server) */
  dataDelayMs: number;
}

export interface MxMessage {
  envelope: MxEnvelope;
  /** The message as received, dot-unstuffed, without the terminating ".\r\n" */
  raw: Buffer;
  tls: boolean;
  /** the name the client gave in EHLO/HELO */
  helo: string;
}

export interface MxOptions {
  host?: string;
  port?: number;
  script?: Partial<MxScript>;
  /** offer STARTTLS (smtp-server mode), default true */
  tls?: boolean;
  /** advertise SIZE with this limit */
  size?: number;
  hideEightBit?: boolean;
  hideSmtpUtf8?: boolean;
  raw?: boolean;
  /** TLS from the first byte (port 465 style), smtp-server mode */
  secure?: boolean;
  /** offer AUTH PLAIN/LOGIN (smtp-server mode) and accept only these credentials */
  auth?: { user: string; pass: string };
  /** announce DSN (RFC 3461) and record the parameters each transaction carried (smtp-server mode) */
  dsn?: boolean;
  /** announce REQUIRETLS after STARTTLS (RFC 8689) and record whether each transaction asked for it */
  requireTls?: boolean;
  /** the certificate (PEM, chain after the leaf) and key to present; default: the self-signed test certificate */
  cert?: { key: string; cert: string };
}

export interface TestMx {
  host: string;
  port: number;
  /** accepted messages (2xx to the final dot) */
  messages: MxMessage[];
  connections: number;
  maxConcurrent: number;
  /** RSET commands seen in clear text (sessions without TLS only) */
  resets: number;
  setScript(s: Partial<MxScript>): void;
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const defaultScript: MxScript = {
  greeting: null,
  mailFrom: () => null,
  rcpt: () => null,
  data: () => null,
  dataFault: null,
  dataDelayMs: 0,
};

function lines(message: string | string[]): string[] {
  return Array.isArray(message) ? message : [message];
}

function replyError(r: MxReply): Error {
  const e = new Error(lines(r.message).join(' ')) as Error & { responseCode: number };
  e.responseCode = r.code;
  return e;
}

export async function startMx(options: MxOptions = {}): Promise<TestMx> {
  const host = options.host ?? '127.0.0.2';
  let script: MxScript = { ...defaultScript, ...options.script };
  const events = new EventEmitter();
  const sockets = new Map<number, net.Socket>();
  let received = 0;
  let open = 0;

  const state: TestMx = {
    host,
    port: 0,
    messages: [],
    connections: 0,
    maxConcurrent: 0,
    resets: 0,
    setScript(s) {
      script = { ...defaultScript, ...s };
    },
    waitForMessages(n, timeoutMs = 5000) {
      if (state.messages.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const limit = livenessBound(timeoutMs);
        const timer = setTimeout(() => {
          events.off('message', check);
          reject(new Error(`test MX: ${state.messages.length} of ${n} messages after ${limit} ms`));
        }, limit);
        const check = (): void => {
          if (state.messages.length < n) return;
          clearTimeout(timer);
          events.off('message', check);
          resolve();
        };
        events.on('message', check);
      });
    },
    close: async () => undefined,
  };

  const track = (sock: net.Socket): void => {
    state.connections++;
    open++;
    state.maxConcurrent = Math.max(state.maxConcurrent, open);
    const key = sock.remotePort ?? -1;
    sockets.set(key, sock);
    // commands are whole lines in one chunk from the clients under test (a test's own check, no parser)
    sock.on('data', (d: Buffer) => {
      for (const m of d.toString('latin1').matchAll(/(?:^|\n)RSET\r\n/gi)) if (m) state.resets++;
    });
    sock.once('close', () => {
      open--;
      sockets.delete(key);
    });
  };
  const accept = (m: MxMessage): void => {
    state.messages.push(m);
    events.emit('message');
  };

  if (options.raw) {
    const server = net.createServer((sock) => {
      track(sock);
      rawSession(sock, () => script, options, () => ++received, accept);
    });
    await listen(server, host, options.port ?? 0);
    state.port = (server.address() as net.AddressInfo).port;
    state.close = async () => {
      for (const s of sockets.values()) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
    return state;
  }

  const withTls = options.tls ?? true;
  const cert = options.cert ?? testCert();
  const server = new SMTPServer({
    name: 'mx.test',
    logger: false,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: true,
    secure: options.secure ?? false,
    hideSTARTTLS: !withTls,
    hide8BITMIME: options.hideEightBit ?? false,
    hideSMTPUTF8: options.hideSmtpUtf8 ?? false,
    hideDSN: !options.dsn,
    hideREQUIRETLS: !options.requireTls,
    size: options.size,
    key: cert.key,
    cert: cert.cert,
    authOptional: !options.auth,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: options.auth ? [] : ['AUTH'],
    onAuth(auth, _session, cb) {
      const want = options.auth;
      if (want && auth.username === want.user && auth.password === want.pass) return cb(null, { user: auth.username });
      cb(replyError({ code: 535, message: '5.7.8 Authentication credentials invalid' }));
    },
    closeTimeout: 100,
    onConnect(_session, cb) {
      const g = script.greeting;
      // 'stall' needs raw mode; smtp-server always greets, so treat it as a normal greeting
      if (g && g !== 'stall') return cb(replyError(g));
      cb();
    },
    onMailFrom(address, _session, cb) {
      const r = script.mailFrom(address.address);
      cb(r ? replyError(r) : null);
    },
    onRcptTo(address, _session, cb) {
      const r = script.rcpt(address.address);
      cb(r ? replyError(r) : null);
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      const fault = script.dataFault;
      const sock = sockets.get(session.remotePort);
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        if (fault === 'reset') sock?.resetAndDestroy();
      });
      stream.on('end', () => {
        if (fault === 'stall' || fault === 'reset') return;
        const envelope: MxEnvelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        if (options.requireTls) envelope.requireTls = (session.envelope as unknown as { requireTLS?: boolean }).requireTLS === true;
        if (options.dsn) {
          const e = session.envelope as unknown as { dsn?: { ret: string | null; envid: string | null } };
          envelope.dsn = {
            ret: e.dsn?.ret ?? null,
            envid: e.dsn?.envid ?? null,
            rcpt: session.envelope.rcptTo.map((r) => {
              const d = (r as unknown as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
              return { notify: d?.notify ?? null, orcpt: d?.orcpt ?? null };
            }),
          };
        }
        const reply = script.data(++received, envelope);
        if (!reply || reply.code < 300) {
          accept({ envelope, raw: Buffer.concat(chunks), tls: session.secure, helo: session.hostNameAppearsAs });
        }
        setTimeout(() => {
          if (reply && reply.code >= 300) cb(replyError(reply));
          else cb(null, reply ? lines(reply.message).join(' ') : 'OK: message queued');
          if (fault === 'reset-after-reply') setImmediate(() => sock?.destroy());
        }, script.dataDelayMs);
      });
    },
  });
  server.on('error', () => undefined);
  server.server.on('connection', track);
  await listen(server.server, host, options.port ?? 0, (p, h, cb) => server.listen(p, h, cb));
  state.port = (server.server.address() as net.AddressInfo).port;
  state.close = async () => {
    for (const s of sockets.values()) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

function listen(
  server: net.Server,
  host: string,
  port: number,
  start: (port: number, host: string, cb: () => void) => void = (p, h, cb) => server.listen(p, h, cb),
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The hand-written SMTP server: one line at a time, replies from the script. */
function rawSession(
  sock: net.Socket,
  script: () => MxScript,
  options: MxOptions,
  nextCount: () => number,
  accept: (m: MxMessage) => void,
): void {
  sock.on('error', () => undefined);
  const send = (code: number, message: string | string[]): void => {
    const ls = lines(message);
    if (sock.writable) sock.write(ls.map((l, i) => `${code}${i < ls.length - 1 ? '-' : ' '}${l}\r\n`).join(''));
  };
  const s = script();
  if (s.greeting === 'stall') return; // keep the socket open, say nothing
  if (s.greeting) {
    send(s.greeting.code, s.greeting.message);
    sock.end();
    return;
  }
  send(220, 'mx.test ESMTP raw');

  let buf = Buffer.alloc(0);
  let inData = false;
  let body: Buffer[] = [];
  let from: string | null = null;
  let to: string[] = [];
  let helo = '';
  const address = (arg: string): string => /<([^>]*)>/.exec(arg)?.[1] ?? arg.trim();

  const command = (line: string): void => {
    const verb = line.slice(0, 4).toUpperCase();
    const sc = script();
    if (verb === 'EHLO' || verb === 'HELO') helo = line.slice(5).trim();
    if (verb === 'EHLO') {
      const ext = ['mx.test', 'PIPELINING', 'ENHANCEDSTATUSCODES'];
      if (!options.hideEightBit) ext.push('8BITMIME');
      if (!options.hideSmtpUtf8) ext.push('SMTPUTF8');
      if (options.size) ext.push(`SIZE ${options.size}`);
      send(250, ext);
    } else if (verb === 'HELO') send(250, 'mx.test');
    else if (verb === 'MAIL') {
      const a = address(line.slice(10));
      const r = sc.mailFrom(a);
      if (r) send(r.code, r.message);
      else {
        from = a;
        to = [];
        send(250, '2.1.0 Ok');
      }
    } else if (verb === 'RCPT') {
      const a = address(line.slice(8));
      const r = sc.rcpt(a);
      if (r) send(r.code, r.message);
      else {
        to.push(a);
        send(250, '2.1.5 Ok');
      }
    } else if (verb === 'DATA') {
      if (from === null || to.length === 0) send(554, '5.5.1 No valid recipients');
      else {
        inData = true;
        body = [];
        send(354, 'End data with <CR><LF>.<CR><LF>');
      }
    } else if (verb === 'RSET') {
      from = null;
      to = [];
      send(250, '2.0.0 Ok');
    } else if (verb === 'NOOP') send(250, '2.0.0 Ok');
    else if (verb === 'QUIT') {
      send(221, '2.0.0 Bye');
      sock.end();
    } else send(502, '5.5.2 Command not recognized');
  };

  const endOfData = (): void => {
    inData = false;
    const sc = script();
    if (sc.dataFault === 'stall') return;
    const envelope: MxEnvelope = { from: from ?? '', to };
    const reply = sc.data(nextCount(), envelope);
    if (!reply || reply.code < 300) accept({ envelope, raw: Buffer.concat(body), tls: false, helo });
    from = null;
    to = [];
    setTimeout(() => {
      if (reply) send(reply.code, reply.message);
      else send(250, '2.0.0 Ok: queued');
      if (sc.dataFault === 'reset-after-reply') sock.end();
    }, sc.dataDelayMs);
  };

  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const i = buf.indexOf('\r\n');
      if (i < 0) return;
      const line = buf.subarray(0, i + 2);
      buf = buf.subarray(i + 2);
      if (inData) {
        if (script().dataFault === 'reset') {
          sock.resetAndDestroy();
          return;
        }
        if (line.length === 3 && line[0] === 0x2e) endOfData();
        else body.push(line[0] === 0x2e ? line.subarray(1) : line);
      } else command(line.subarray(0, i).toString('utf8'));
    }
  });
}
