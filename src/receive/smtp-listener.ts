import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError, smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { SmtpConfig } from '../config/schema.js';
import { splitHostPort } from '../config/load.js';
import type { IntakeRecipient, IntakeSession } from '../core/message-check.js';
import type { AuthenticatedUser, Authenticator, ParsedAddress, RecipientDecision, RecipientPolicy, SenderPolicy, SenderRefusal } from '../core/policy.js';
import { domainAllowed, parseAddress } from '../policy/addresses.js';
import type { AuthThrottle } from '../policy/auth-throttle.js';
import { createNetworkMatcher, isLoopbackRange } from '../policy/networks.js';
import type { Intake } from './intake.js';
import { createAuthDeadlines, createSessionSlots, greetingDelayOf, slotOptionsOf } from './session-slots.js';
import { AUTH_NEEDS_TLS, GREETING_DELAY_OPTION, installSmtpServerPatches } from './smtp-server-patch.js';

export interface ListenerDeps {
  config: SmtpConfig;
  hostname: string;
  tls: { key: string | Buffer; cert: string | Buffer };
  intake: Intake;
  authenticator: Authenticator;
  throttle: AuthThrottle;
  mayRelay: (ip: string) => boolean;
  recipientPolicy: RecipientPolicy;
  /** Optional MAIL FROM policy (quotas), after the relay and sender-domain checks. */
  senderPolicy?: SenderPolicy;
  clock: Clock;
  logger: Logger;
  /** false while free disk space is below its threshold: MAIL FROM answers 452 4.3.1. */
  diskAccepting?: () => boolean;
  /** Told of every accepted message and every refused MAIL FROM / RCPT TO / DATA (metrics). */
  observer?: ListenerObserver;
}

export interface ListenerObserver {
  accepted(recipients: readonly IntakeRecipient[]): void;
  refused(phase: 'mail' | 'rcpt' | 'data', err: FerryError): void;
}

/** smtp-server declares its open connections public (`server.connections`) but exports no name for their type. */
type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never;

interface FerryAddress extends SMTPServerAddress {
  ferry?: { parsed: ParsedAddress; decision: RecipientDecision };
  /** RFC 3461 parameters as smtp-server read them (hideDSN: false), xtext-decoded. */
  dsn?: { notify?: string[]; orcpt?: string };
}

export interface SmtpListener {
  /** Binds both listeners; resolves with the bound addresses. */
  start(): Promise<{ smtp: string; smtps: string | null }>;
  /** Refuse new work with 421, let sessions in DATA finish within the grace time, then close. */
  stop(): Promise<void>;
  readonly activeSessions: number;
  /** A new certificate for new connections and STARTTLS upgrades (reload); open sessions keep theirs. */
  updateTls(tls: { key: string | Buffer; cert: string | Buffer }): void;
}

export function createSmtpListener(deps: ListenerDeps): SmtpListener {
  installSmtpServerPatches();
  const { config, logger } = deps;
  let draining = false;
  const inData = new Set<string>();
  /** Sessions admitted by onConnect and not yet closed: who holds which slot. */
  const slots = createSessionSlots(slotOptionsOf(config), deps.mayRelay);
  const authDeadlines = createAuthDeadlines(deps.clock, config.untrusted.authTimeoutMs);
  const insecureAuth = createNetworkMatcher(config.insecureAuthNetworks);
  /** Intake work still running (a message being streamed or committed); stop() waits for it. */
  const inFlight = new Set<Promise<unknown>>();

  const user = (s: SMTPServerSession): AuthenticatedUser | null => (s.user as unknown as AuthenticatedUser) ?? null;

  function options(secure: boolean) {
    return {
      secure,
      name: deps.hostname,
      banner: 'Ferry',
      key: deps.tls.key,
      cert: deps.tls.cert,
      size: config.maxMessageSizeBytes,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: true,
      // AUTH in clear text: hidden per session (onConnect) unless the client is in insecureAuthNetworks.
      allowInsecureAuth: true,
      hideSTARTTLS: secure,
      hidePIPELINING: false,
      hide8BITMIME: false,
      hideSMTPUTF8: false,
      hideENHANCEDSTATUSCODES: false,
      [GREETING_DELAY_OPTION]: greetingDelayOf(config, deps.mayRelay),
      // RFC 3461: clients that get past MAIL FROM (authenticated or relay networks) may ask for
      // DSNs; the bounce listener keeps smtp-server's default (hidden).
      hideDSN: false,
      // RFC 8689: offered after STARTTLS (smtp-server only offers it on TLS sessions); the flag
      // is stored with the message and decides how it may be delivered (deliver/require-tls.ts).
      hideREQUIRETLS: false,
      disableReverseLookup: true,
      // Session slots are counted in onConnect (session-slots.ts), which may push out an idle
      // unauthenticated session to make room; the library's own count also holds connections
      // still waiting for their greeting or closing, so it is only a backstop here.
      maxClients: config.maxClients * 2,
      socketTimeout: config.idleTimeoutMs,
      closeTimeout: config.shutdownGraceMs,
      logger: false,
      onConnect(session: SMTPServerSession, cb: (err?: Error) => void) {
        if (draining) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
        // AUTH failures never refuse a connection: a locked-out address may still relay (relay
        // networks) and other users behind the same address (a NAT, Docker's proxy) are not punished.
        const ip = session.remoteAddress;
        const admission = slots.admit(session.id, ip);
        if (!admission.ok) {
          logger.info({ session: session.id, ip, reason: admission.text }, 'connection refused');
          return cb(smtpError(421, admission.text));
        }
        if (admission.evict) {
          logger.info({ session: admission.evict, for: session.id }, 'unauthenticated session closed to make room');
          endSession(admission.evict, '4.7.0 Too many unauthenticated connections, closing the oldest');
        }
        if (!admission.trusted) {
          const id = session.id;
          authDeadlines.start(id, () => {
            if (!slots.isUntrusted(id)) return;
            logger.info({ session: id, ip }, 'no AUTH in time, closing connection');
            endSession(id, `4.4.2 No authentication within ${Math.round(config.untrusted.authTimeoutMs / 1000)} s, closing connection`);
          });
        }
        if (!session.secure && !insecureAuth(ip)) {
          // Not offered, and refused before any credential is read, until STARTTLS (see onSecure).
          (session as unknown as Record<string, unknown>).disabledCommands = ['AUTH'];
          (session as unknown as Record<string, unknown>)[AUTH_NEEDS_TLS] = true;
        }
        cb();
      },
      onSecure(_socket: unknown, session: SMTPServerSession, cb: (err?: Error) => void) {
        const s = session as unknown as Record<string, unknown>;
        if (s[AUTH_NEEDS_TLS]) {
          delete s.disabledCommands;
          delete s[AUTH_NEEDS_TLS];
        }
        cb();
      },
      onClose(session: SMTPServerSession) {
        slots.closed(session.id);
        authDeadlines.cancel(session.id);
        inData.delete(session.id);
        logger.debug({ session: session.id, ip: session.remoteAddress, transactions: session.transaction }, 'session closed');
      },
      onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: { user: unknown }) => void) {
        const ip = session.remoteAddress;
        // A backstop: onConnect hides AUTH from these sessions until STARTTLS.
        if (!session.secure && !insecureAuth(ip)) {
          return cb(smtpError(538, '5.7.11 Encryption required: use STARTTLS before AUTH'));
        }
        // The slot is taken before the password check starts, so parallel sessions cannot all
        // slip in under the limit while the earlier checks are still running.
        const admission = deps.throttle.begin(ip, auth.username ?? '');
        if (!admission.ok) {
          logger.warn({ session: session.id, ip, user: auth.username, reason: admission.reason, scope: admission.scope }, 'authentication refused');
          return cb(
            smtpError(
              454,
              admission.reason === 'locked'
                ? `4.7.0 Too many failed authentication attempts ${SCOPE_TEXT[admission.scope]}: AUTH refused for now, try again later`
                : `4.7.0 Too many authentication attempts in progress ${SCOPE_TEXT[admission.scope]}, try again later`,
            ),
          );
        }
        slots.authenticating(session.id, true);
        deps.authenticator
          .verify(auth.username ?? '', auth.password ?? '')
          .then(
            (u) => {
              slots.authenticating(session.id, false);
              const { locked } = admission.settle(u !== null);
              if (u) {
                slots.authenticated(session.id);
                authDeadlines.cancel(session.id);
                logger.info({ session: session.id, ip, user: u.name }, 'authenticated');
                return cb(null, { user: u });
              }
              logger.warn({ session: session.id, ip, user: auth.username, locked }, 'authentication failed');
              cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
            },
            (err: unknown) => {
              slots.authenticating(session.id, false);
              admission.release();
              logger.error({ session: session.id, err }, 'authentication error');
              cb(smtpError(454, '4.7.0 Temporary authentication failure'));
            },
          );
      },
      onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, done: (err?: Error) => void) {
        const cb = observed('mail', done);
        if (draining && !inData.has(session.id)) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
        const u = user(session);
        if (!u && !deps.mayRelay(session.remoteAddress)) {
          return cb(smtpError(530, '5.7.0 Authentication required'));
        }
        if (deps.diskAccepting && !deps.diskAccepting()) return cb(smtpError(452, '4.3.1 Insufficient system storage, try again later'));
        // RFC 3461 §4.4: an ENVID is at most 100 characters (it is echoed in every DSN and webhook).
        const envid = address.args ? (address.args as Record<string, unknown>)['ENVID'] : undefined;
        if (typeof envid === 'string' && envid.length > 100) return cb(smtpError(501, '5.5.4 ENVID is longer than 100 characters'));
        const parsed = address.address === '' ? null : parseAddress(address.address);
        if (address.address !== '' && !parsed) return cb(smtpError(501, `5.1.7 Bad sender address syntax <${address.address}>`));
        if (!hasSmtpUtf8(address) && !isAscii(address.address)) {
          return cb(smtpError(553, '5.6.7 Non-ASCII sender address requires the SMTPUTF8 parameter'));
        }
        if (u && parsed && !domainAllowed(parsed.domain, u.fromDomains)) {
          return cb(smtpError(550, `5.7.1 Sender domain ${parsed.domain} is not allowed for user ${u.name}`));
        }
        if (deps.senderPolicy) {
          const failed = (err: unknown) => {
            logger.error({ session: session.id, err }, 'sender policy failed');
            cb(smtpError(451, '4.3.0 Temporary local problem, try again later'));
          };
          const decided = (refusal: SenderRefusal | null) => (refusal ? cb(smtpError(refusal.code, refusal.text)) : cb());
          let refusal: SenderRefusal | null | Promise<SenderRefusal | null>;
          try {
            refusal = deps.senderPolicy.check(parsed, u);
          } catch (err) {
            return failed(err);
          }
          if (refusal instanceof Promise) refusal.then(decided, failed);
          else decided(refusal);
          return;
        }
        cb();
      },
      onRcptTo(address: FerryAddress, session: SMTPServerSession, done: (err?: Error) => void) {
        const cb = observed('rcpt', done);
        if (session.envelope.rcptTo.length >= config.maxRecipients) {
          return cb(smtpError(452, `4.5.3 Too many recipients (at most ${config.maxRecipients} per message)`));
        }
        const parsed = parseAddress(address.address);
        if (!parsed) return cb(smtpError(501, `5.1.3 Bad recipient address syntax <${address.address}>`));
        // RFC 3461 §4.2: an ORCPT is at most 500 characters.
        if ((address.dsn?.orcpt?.length ?? 0) > 500) return cb(smtpError(501, '5.5.4 ORCPT is longer than 500 characters'));
        const smtputf8 = hasSmtpUtf8(session.envelope.mailFrom);
        if (parsed.utf8Local && !smtputf8) {
          return cb(smtpError(553, '5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL FROM'));
        }
        const failed = (err: unknown) => {
          logger.error({ session: session.id, err }, 'recipient policy failed');
          cb(smtpError(451, '4.3.0 Temporary local problem, try again later'));
        };
        const decided = (decision: RecipientDecision) => {
          if (decision.action === 'reject') return cb(smtpError(decision.code, decision.text));
          address.ferry = { parsed, decision };
          cb();
        };
        let decision: RecipientDecision | Promise<RecipientDecision>;
        try {
          decision = deps.recipientPolicy.check(parsed, user(session));
        } catch (err) {
          return failed(err);
        }
        // A promise only when the policy must wait (a store round trip); otherwise answered in this turn.
        if (decision instanceof Promise) decision.then(decided, failed);
        else decided(decision);
      },
      onData(stream: Readable, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void) {
        inData.add(session.id);
        const mailFrom = session.envelope.mailFrom as SMTPServerAddress;
        const recipients: IntakeRecipient[] = (session.envelope.rcptTo as FerryAddress[]).map((a) => {
          const f = a.ferry!;
          const dsn = { dsnNotify: a.dsn?.notify ?? null, dsnOrcpt: a.dsn?.orcpt ?? null };
          return f.decision.action === 'drop'
            ? { address: f.parsed.address, domain: f.parsed.domain, status: 'dropped', reason: f.decision.reason, category: f.decision.category, ...dsn }
            : { address: f.parsed.address, domain: f.parsed.domain, status: 'queued', reason: null, category: null, ...dsn };
        });
        const envelopeDsn = (session.envelope as { dsn?: { ret?: string | null; envid?: string | null } }).dsn;
        const u = user(session);
        const tls = session.secure && session.tlsOptions ? (session.tlsOptions as { version?: string }).version ?? 'TLS' : null;
        const intakeSession: IntakeSession = {
          sessionId: session.id,
          clientIp: session.remoteAddress,
          // With reverse lookups off, smtp-server reports the literal "[ip]" as the host name.
          clientHostname: session.clientHostname && session.clientHostname !== `[${session.remoteAddress}]` ? session.clientHostname : null,
          helo: session.hostNameAppearsAs ?? null,
          tls,
          username: u?.name ?? null,
          allowedFromDomains: u?.fromDomains ?? null,
          sender: mailFrom.address,
          recipients,
          smtputf8: hasSmtpUtf8(mailFrom),
          protocol: `ESMTP${tls ? 'S' : ''}${u ? 'A' : ''}` as IntakeSession['protocol'],
          dsnRet: envelopeDsn?.ret === 'FULL' || envelopeDsn?.ret === 'HDRS' ? envelopeDsn.ret : null,
          dsnEnvid: envelopeDsn?.envid ?? null,
          oneClickUnsubscribe: u?.oneClickUnsubscribe ?? false,
          requireTls: (session.envelope as { requireTLS?: boolean }).requireTLS === true,
        };
        const timer = deps.clock.setTimer(config.dataTimeoutMs, () => {
          logger.warn({ session: session.id, ip: session.remoteAddress }, 'DATA timeout, closing connection');
          closeSession(session.id, '4.4.2 DATA timeout, closing connection');
        });
        const work = deps.intake
          .receive(intakeSession, stream)
          .then(
            (res) => {
              // The client waits for this reply: it goes first, the bookkeeping after it (same turn).
              cb(null, `2.0.0 Ok: queued as ${res.id}`);
              // The line's fields are only gathered when it is written (per message, on the SMTP thread).
              if (logger.isLevelEnabled('info')) {
                logger.info(
                  { session: session.id, queueId: res.id, user: intakeSession.username, sender: intakeSession.sender, recipients: recipients.length, dropped: recipients.filter((r) => r.status === 'dropped').length, size: res.size, tls, ip: intakeSession.clientIp },
                  'message accepted',
                );
              }
              deps.observer?.accepted(recipients);
            },
            (err: unknown) => {
              const fe = err instanceof FerryError ? err : smtpError(451, '4.3.0 Local error, try again later');
              logger.info({ session: session.id, ip: session.remoteAddress, code: fe.responseCode, reason: fe.message }, 'message refused');
              deps.observer?.refused('data', fe);
              cb(fe);
            },
          )
          .finally(() => {
            timer.cancel();
            inData.delete(session.id);
            inFlight.delete(work);
            // Shutting down: the message is answered; the session has nothing more to do here.
            if (draining) setImmediate(() => closeSession(session.id, '4.3.2 Service shutting down, try again later'));
          });
        inFlight.add(work);
      },
    };
  }

  function observed(phase: 'mail' | 'rcpt', cb: (err?: Error) => void): (err?: Error) => void {
    if (!deps.observer) return cb;
    return (err) => {
      if (err instanceof FerryError) deps.observer!.refused(phase, err);
      cb(err);
    };
  }

  const plain = new SMTPServer(options(false) as never);
  const secure = config.tlsListen ? new SMTPServer(options(true) as never) : null;
  for (const [server, kind] of [[plain, 'smtp'], [secure, 'smtps']] as const) {
    server?.on('error', (err: Error) => logger.warn({ listener: kind, err: err.message }, 'listener error'));
  }

  /** The library's public set of open connections, both listeners. */
  function connections(): Connection[] {
    const out: Connection[] = [];
    for (const server of [plain, secure]) if (server) for (const conn of server.connections) out.push(conn);
    return out;
  }

  /** Answers 421 with `text` and closes the session (smtp-server closes after any 421). */
  function closeSession(id: string, text: string): void {
    for (const conn of connections()) if (conn.id === id) conn.send(421, text);
  }

  /** closeSession for an idle session; answered on the next turn, so a handler in progress finishes first. */
  function endSession(id: string, text: string): void {
    setImmediate(() => closeSession(id, text));
  }

  function listen(server: SMTPServer, hostPort: string): Promise<string> {
    const { host, port } = splitHostPort(hostPort);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new FerryError('FERRY_ERR_CONFIG', `cannot listen on ${hostPort}: ${err.message}`, { cause: err }));
      server.server.once('error', onError);
      server.listen(port, host, () => {
        server.server.off('error', onError);
        const a = server.server.address();
        resolve(typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : hostPort);
      });
    });
  }

  return {
    async start() {
      const clear = config.insecureAuthNetworks.filter((c) => !isLoopbackRange(c));
      if (clear.length) logger.warn({ insecureAuthNetworks: clear }, 'smtp.insecureAuthNetworks lets clients beyond loopback send passwords without TLS');
      const smtp = await listen(plain, config.listen);
      const smtps = secure && config.tlsListen ? await listen(secure, config.tlsListen) : null;
      return { smtp, smtps };
    },
    async stop() {
      draining = true;
      const closed = Promise.all([plain, secure].map((s) => (s ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined)));
      // Sessions not in DATA have nothing to lose: 421 now rather than after the grace time.
      // Sessions in DATA finish their message (or run out of grace time), then get 421.
      for (const conn of connections()) {
        if (!inData.has(conn.id)) conn.send(421, '4.3.2 Service shutting down, try again later');
      }
      await closed;
      // After the grace time smtp-server has closed the stragglers; their intake ends promptly.
      await Promise.allSettled([...inFlight]);
    },
    get activeSessions() {
      return slots.size;
    },
    updateTls(tls) {
      for (const server of [plain, secure]) server?.updateSecureContext({ key: tls.key, cert: tls.cert });
    },
  };
}

const SCOPE_TEXT = { host: 'from your address', network: 'from your network', user: 'for this user' } as const;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function hasSmtpUtf8(mailFrom: SMTPServerAddress | false): boolean {
  if (!mailFrom || !mailFrom.args) return false;
  return Boolean((mailFrom.args as Record<string, unknown>)['SMTPUTF8']);
}
