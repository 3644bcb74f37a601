import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { NetworkErrorKind, SmtpReply, TlsInfo } from '../core/types.js';
import { parseReply } from './reply.js';
import type { DeliveryError, DeliveryTimeouts, HopTls, HopTlsOutcome, HopTry, OutgoingMessage, TransactionReport } from './types.js';
import { webPkiCheck, peerChain, type TlsCheck } from './tls-policy/verify.js';
import { daneCheck } from './tls-policy/tlsa-match.js';
import { transactionOutcomes, type SendFailure } from './outcomes.js';
import { clientInternals, installFastDotStuffing, watchSockets, type RejectedRecipientError } from './nodemailer-adapter.js';

// nodemailer's per-byte dot-stuffing loop dominated CPU for large messages (see dot-stuffing.ts).
installFastDotStuffing();

/**
 * The one adapter around nodemailer's SMTP client: callbacks stay in this file, the rest of
 * deliver sees promises. Every wait is bounded twice: by the client's own socket timeouts and
 * by a backstop timer on the injected clock, so a callback that never fires cannot stall a
 * worker; every callback is guarded so one that fires twice cannot report twice.
 */

export interface ConnectOptions {
  /** the MX host name (for SNI and reports) */
  host: string;
  ip: string;
  port: number;
  /** EHLO name */
  hostname: string;
  tls: HopTls;
  auth: { user: string; pass: string } | null;
  timeouts: DeliveryTimeouts;
  clock: Clock;
  signal?: AbortSignal;
  /** told once when the connection ends, whoever ended it (the delivery thread reports it across) */
  onEnd?: () => void;
}

/** What TLS came to on a connection, before the policy that asked for it is named. */
export type ConnectionTls = Omit<HopTlsOutcome, 'policy'>;

export type ConnectResult =
  | { ok: true; client: SmtpClient; tls: ConnectionTls }
  | {
      ok: false;
      result: Exclude<HopTry['result'], 'connected' | 'refused_private' | 'dns_failed' | 'policy_refused'>;
      reply?: SmtpReply;
      error: DeliveryError;
      /** null when the session never got as far as STARTTLS (or past it) */
      tls: ConnectionTls | null;
    };

export interface SmtpClient {
  readonly host: string;
  readonly ip: string;
  readonly port: number;
  readonly tls: TlsInfo | null;
  /** TLS is up and the certificate chain is valid for the MX name (the socket's `authorized`) */
  readonly verified: boolean;
  /** false once the connection broke or was closed */
  readonly usable: boolean;
  /** SMTP extensions the server announced (after STARTTLS when used), upper case */
  readonly extensions: readonly string[];
  send(message: OutgoingMessage): Promise<TransactionReport>;
  close(): Promise<void>;
}

export interface NodemailerLikeError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: NodemailerLikeError[];
  timeoutType?: string;
}

export function errorKind(err: NodemailerLikeError): NetworkErrorKind {
  switch (err.code) {
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ETLS':
    case 'EREQUIRETLS':
      return 'tls';
    case 'EPROTOCOL':
      return 'protocol';
    case 'EDNS':
      return 'dns';
    case 'ESTREAM':
    case 'EMESSAGE':
    case 'EABORT':
      return 'local';
    default:
      return 'connect';
  }
}

function describe(err: NodemailerLikeError): DeliveryError {
  const type = err.timeoutType ? ` (${err.timeoutType})` : '';
  return { kind: errorKind(err), message: `${err.code ?? 'ERROR'}${type}: ${errorMessage(err)}` };
}

/** A promise that settles once, whatever fires first. */
function settleOnce<T>(): { promise: Promise<T>; settle: (v: T) => void; settled: () => boolean } {
  let done = false;
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return {
    promise,
    settle: (v) => {
      if (done) return;
      done = true;
      resolve(v);
    },
    settled: () => done,
  };
}

function tlsInfo(conn: SMTPConnection): TlsInfo | null {
  const socket = clientInternals(conn).socket();
  if (!conn.secure || !socket) return null;
  const s = socket as TLSSocket;
  return { protocol: s.getProtocol?.() ?? null, cipher: s.getCipher?.()?.name ?? null };
}

/**
 * The server's replies from the latest MAIL FROM on, in order: the replies to MAIL, each RCPT in
 * turn, DATA and the final dot (a new MAIL FROM starts the list again).
 */
function transactionReplies() {
  let replies: string[] | null = null;
  return {
    observe(tnx: string | undefined, line: unknown): void {
      if (typeof line !== 'string') return;
      if (tnx === 'client' && /^MAIL FROM:/i.test(line)) replies = [];
      else if (tnx === 'server' && replies) replies.push(line);
    },
    /** the server answered something of the transaction in progress */
    heard(): boolean {
      return replies !== null && replies.length > 0;
    },
    /**
     * Each recipient's RCPT reply, for the recipients sent (in the order sent). Empty unless the
     * replies line up with what nodemailer decided (accepted ones 2xx, refused ones not).
     */
    take(sent: readonly string[], accepted: ReadonlySet<string>): Map<string, SmtpReply> {
      const got = replies ?? [];
      replies = null;
      const out = new Map<string, SmtpReply>();
      if (got.length < sent.length + 1 || !got[0]!.startsWith('2')) return out;
      for (let i = 0; i < sent.length; i++) {
        const reply = parseReply(got[i + 1]!);
        if (!reply || (reply.code < 300) !== accepted.has(sent[i]!)) return new Map();
        out.set(sent[i]!, reply);
      }
      return out;
    },
  };
}

/** How long nodemailer waits for the server to close after it ended its side (then it destroys the socket). */
const SOCKET_CLOSE_TIMEOUT_MS = 1000;

export async function connectSmtp(o: ConnectOptions): Promise<ConnectResult> {
  const { timeouts, clock } = o;
  const wire = transactionReplies();
  const conn = new SMTPConnection({
    host: o.ip,
    port: o.port,
    name: o.hostname,
    secure: o.tls.implicit,
    servername: isIP(o.host) ? undefined : o.host,
    // The handshake never rejects: opportunistic TLS (RFC 7435) takes any certificate, and where
    // a level demands more (verify, dane) the chain is judged below, before anything is sent,
    // so the failure can be told apart (expired, wrong name, untrusted, TLSA mismatch).
    tls: { rejectUnauthorized: false, servername: isIP(o.host) ? undefined : o.host },
    // the one clear-text retry after a broken STARTTLS (level may): do not offer it again
    ignoreTLS: Boolean(o.tls.cleartext),
    connectionTimeout: timeouts.connectTimeoutMs,
    greetingTimeout: timeouts.greetingTimeoutMs,
    socketTimeout: timeouts.commandTimeoutMs,
    socketCloseTimeout: SOCKET_CLOSE_TIMEOUT_MS,
    // nodemailer keeps an accepted recipient's RCPT reply to itself; its transaction log (commands
    // and replies, never message content) is how the replies of a transaction are read in order.
    transactionLog: true,
    logger: { debug: (entry: { tnx?: string }, line: unknown) => wire.observe(entry.tnx, line) },
  });
  const sockets = watchSockets(conn);
  /**
   * Ends the connection and resolves once its socket has closed: a connection counts against its
   * destination's caps until then (the caller's slot is released after this). nodemailer destroys
   * a socket the server does not close within socketCloseTimeout; the backstop covers a socket
   * that would not close all the same.
   */
  const shut = async (): Promise<void> => {
    conn.close();
    const backstop = clock.setTimer(SOCKET_CLOSE_TIMEOUT_MS + timeouts.commandTimeoutMs, () => sockets.destroy());
    await sockets.closed();
    backstop.cancel();
  };
  let lastError: NodemailerLikeError | undefined;
  let dead = false;
  /** transactions attempted on this connection */
  let transactions = 0;
  // attached for the connection's whole life: an 'error' without a listener would crash us
  conn.on('error', (err: NodemailerLikeError) => {
    lastError = err;
    dead = true;
  });
  conn.on('end', () => {
    dead = true;
    o.onEnd?.();
  });

  const failure = (err: NodemailerLikeError): ConnectResult => {
    const reply = err.response ? parseReply(err.response) ?? undefined : undefined;
    // a socket error while STARTTLS is upgrading the connection is a broken handshake
    if (err.code === 'ETLS' || (conn as unknown as { upgrading?: boolean }).upgrading === true) {
      // a refused STARTTLS (a reply) is "not supported"; a handshake that broke is a validation failure
      const tls: ConnectionTls = {
        result: reply ? 'starttls-not-supported' : 'validation-failure',
        verified: false,
        protocol: null,
        cipher: null,
        detail: describe(err).message,
      };
      return { ok: false, result: 'tls_failed', reply, error: { ...describe(err), kind: 'tls' }, tls };
    }
    if (reply && reply.code >= 400) return { ok: false, result: 'greeting_rejected', reply, error: describe(err), tls: null };
    return { ok: false, result: 'connect_failed', reply, error: describe(err), tls: null };
  };

  const connected = settleOnce<ConnectResult | null>();
  conn.on('error', (err: NodemailerLikeError) => connected.settle(failure(err)));
  conn.once('end', () =>
    connected.settle(failure(lastError ?? Object.assign(new Error('connection closed before the session was ready'), { code: 'ECONNECTION' }))),
  );
  const onAbort = (): void => {
    connected.settle({ ok: false, result: 'connect_failed', error: { kind: 'local', message: 'aborted' }, tls: null });
    conn.close();
  };
  if (o.signal?.aborted) return { ok: false, result: 'connect_failed', error: { kind: 'local', message: 'aborted' }, tls: null };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const backstop = clock.setTimer(timeouts.connectTimeoutMs + timeouts.greetingTimeoutMs + 3 * timeouts.commandTimeoutMs, () => {
    connected.settle({ ok: false, result: 'connect_failed', error: { kind: 'timeout', message: 'session setup did not finish in time' }, tls: null });
    conn.close();
  });
  conn.connect((err?: NodemailerLikeError) => connected.settle(err ? failure(err) : null));
  let res = await connected.promise;

  const level = o.tls.level ?? (o.tls.required ? 'verify' : 'may');
  let sessionTls: ConnectionTls = { result: 'starttls-not-supported', verified: false, protocol: null, cipher: null, detail: null };
  if (!res && conn.secure) {
    const socket = conn._socket as TLSSocket;
    const check: TlsCheck = level === 'dane' ? daneCheck(o.tls.tlsa ?? [], peerChain(socket), o.host, clock.now()) : webPkiCheck(socket, o.host);
    const info = tlsInfo(conn);
    sessionTls = { result: check.result, verified: check.verified, protocol: info?.protocol ?? null, cipher: info?.cipher ?? null, detail: check.detail };
    if ((level === 'verify' || level === 'dane') && !check.verified) {
      const what = level === 'dane' ? 'does not match its TLSA records' : `is not valid for ${o.host}`;
      res = {
        ok: false,
        result: 'tls_failed',
        error: { kind: 'tls', message: `the certificate of ${o.host} ${what} (${check.result}: ${check.detail ?? ''}); nothing was sent` },
        tls: sessionTls,
      };
    }
  }
  if (!res && !conn.secure && level !== 'may') {
    res = {
      ok: false,
      result: 'tls_failed',
      error: { kind: 'tls', message: `TLS is required for ${o.host} but it did not offer STARTTLS; nothing was sent in clear text` },
      tls: { ...sessionTls, detail: `${o.host} did not offer STARTTLS` },
    };
  }
  if (!res && o.auth) {
    const auth = o.auth;
    const login = settleOnce<ConnectResult | null>();
    conn.on('error', (err: NodemailerLikeError) => login.settle(failure(err)));
    conn.once('end', () => login.settle({ ok: false, result: 'connect_failed', error: { kind: 'connect', message: 'connection closed during AUTH' }, tls: sessionTls }));
    conn.login({ user: auth.user, pass: auth.pass }, (err) => {
      if (!err) return login.settle(null);
      const e = err as NodemailerLikeError;
      login.settle({ ok: false, result: 'auth_failed', reply: e.response ? parseReply(e.response) ?? undefined : undefined, error: describe(e), tls: sessionTls });
    });
    res = await login.promise;
  }
  backstop.cancel();
  o.signal?.removeEventListener('abort', onAbort);
  if (res) {
    await shut();
    return res;
  }

  const internals = clientInternals(conn);
  const client: SmtpClient = {
    host: o.host,
    ip: o.ip,
    port: o.port,
    tls: conn.secure ? { protocol: sessionTls.protocol, cipher: sessionTls.cipher, verified: sessionTls.verified } : null,
    verified: Boolean(conn.secure && sessionTls.verified),
    get usable() {
      return !dead;
    },
    get extensions() {
      return internals.extensions();
    },
    send: (message) => sendOne(message),
    async close() {
      if (!dead) {
        const ended = settleOnce<void>();
        conn.once('end', () => ended.settle());
        const t = clock.setTimer(timeouts.commandTimeoutMs, () => ended.settle());
        conn.quit();
        await ended.promise;
        t.cancel();
        dead = true;
      }
      // nodemailer's 'end' (the 221, or a connection that broke earlier) comes before its socket has closed
      await shut();
    },
  };

  const sendOne = async (message: OutgoingMessage): Promise<TransactionReport> => {
    const startedAt = clock.now();
    const hop = { host: o.host, ip: o.ip, port: o.port, tls: client.tls };
    const finish = (recipients: TransactionReport['recipients']): TransactionReport => ({
      messageId: message.id,
      hop,
      recipients,
      sessionUsable: !dead,
      startedAt,
      durationMs: clock.now() - startedAt,
    });
    if (dead) {
      const error = lastError ? describe(lastError) : { kind: 'connect' as const, message: 'the connection is closed' };
      const report = finish(message.to.map((address) => ({ address, ok: false, phase: 'connect', error })));
      return transactions > 0 ? { ...report, notSent: true } : report;
    }

    const outcome = transactionOutcomes(message, {
      extensions: client.extensions,
      maxSize: internals.maxAllowedSize(),
      host: o.host,
    });
    if (outcome.send.length === 0) return finish(outcome.finish(null));

    const source = message.body();
    const body = source instanceof Readable ? source : new Readable().wrap(source);
    let dataStarted = false;
    // nodemailer pipes the body only once DATA was accepted, so the first resume marks that
    body.once('resume', () => (dataStarted = true));
    body.once('end', () => {
      // the transfer is done: the final reply may take as long as the data timeout allows
      internals.socket()?.setTimeout(timeouts.dataTimeoutMs);
    });

    const sent = settleOnce<SendFailure | { info: SMTPConnection.SentMessageInfo }>();
    const onAbort = (): void => {
      sent.settle({ error: { kind: 'local', message: 'aborted' }, dataStarted, network: true });
      conn.close();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const budget = timeouts.commandTimeoutMs * (outcome.send.length + 3) + timeouts.dataTimeoutMs;
    const backstop = clock.setTimer(budget, () => {
      sent.settle({ error: { kind: 'timeout', message: `transaction did not finish in ${budget} ms` }, dataStarted, network: true });
      conn.close();
    });
    conn.send(
      {
        from: message.from, to: outcome.send, size: message.size, use8BitMime: message.eightBit, ...(message.dsn ? { dsn: message.dsn } : {}),
        // RFC 8689: REQUIRETLS on MAIL FROM (deliverer.ts decided the session may carry it)
        ...(message.requireTls ? { requireTLSExtensionEnabled: true } : {}),
      } as SMTPConnection.Envelope,
      body,
      (err, info) => {
        if (!err && info) return sent.settle({ info });
        const e = (err ?? new Error('send failed without an error')) as NodemailerLikeError;
        // with PIPELINING the RCPTs after a refused MAIL get "503 need MAIL": not their own fact
        const rejected: RejectedRecipientError[] = e.command === 'MAIL FROM' ? [] : (e.rejectedErrors ?? internals.rejectedErrors() ?? []);
        const replyOf = e.response ? parseReply(e.response) ?? undefined : undefined;
        const network = e.code !== 'EENVELOPE' && !(e.code === 'EMESSAGE' && replyOf);
        sent.settle({
          error: describe(e),
          reply: replyOf,
          command: e.command,
          code: e.code,
          rejected: rejected.map((r) => ({ address: r.recipient ?? '', reply: r.response ? parseReply(r.response) ?? undefined : undefined })),
          dataStarted,
          network,
        });
      },
    );
    const result = await sent.promise;
    backstop.cancel();
    o.signal?.removeEventListener('abort', onAbort);
    if (!dead) internals.socket()?.setTimeout(timeouts.commandTimeoutMs);
    // A reused connection was gone before the server said a word of this transaction (a server
    // that closes after a message or when idle): nothing of it was sent. Only after a transaction
    // went through on it, so a server that always drops at MAIL cannot make this loop.
    const notSent = transactions > 0 && !('info' in result) && result.network && !result.dataStarted && !result.reply && !wire.heard() && result.error.kind === 'connect';
    transactions++;
    if (!('info' in result) && result.network) {
      dead = true;
      conn.close();
      body.destroy();
    }
    const recipients = outcome.finish('info' in result ? { info: result.info } : result);
    const refusedAtRcpt = new Set('info' in result ? result.info.rejected.map(String) : (result.rejected ?? []).map((r) => r.address));
    const rcptReplies = wire.take(outcome.send, new Set(outcome.send.filter((a) => !refusedAtRcpt.has(a))));
    for (const r of recipients) {
      const rcpt = rcptReplies.get(r.address);
      if (rcpt && rcpt.code < 300) r.rcptReply = rcpt;
    }
    // RFC 5321 §4.1.1.2: MAIL may follow a completed transaction directly (nodemailer's own pool
    // does the same); RSET only after a refused one, to clear whatever the server still holds.
    if (!dead && !('info' in result)) await reset();
    return notSent ? { ...finish(recipients), notSent: true } : finish(recipients);
  };

  /** RSET after a failed transaction; a connection that cannot reset is not reused. */
  const reset = async (): Promise<void> => {
    const done = settleOnce<void>();
    const t = clock.setTimer(timeouts.commandTimeoutMs, () => {
      dead = true;
      done.settle();
    });
    const onEnd = (): void => done.settle();
    conn.once('end', onEnd);
    conn.reset((err) => {
      if (err) dead = true;
      done.settle();
    });
    await done.promise;
    t.cancel();
    conn.off('end', onEnd);
    if (dead) conn.close();
  };

  return { ok: true, client, tls: sessionTls };
}
