import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError, smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { SmtpConfig } from '../config/schema.js';
import { splitHostPort } from '../config/load.js';
import { domainAllowed, parseAddress, type ParsedAddress } from '../policy/addresses.js';
import type { AuthThrottle } from '../policy/auth-throttle.js';
import { isLoopback } from '../policy/networks.js';
import type { Intake, IntakeRecipient, IntakeSession } from './intake.js';
import { installEnhancedCodePassthrough } from './smtp-server-patch.js';

/** What the listener needs to know about an authenticated user. */
export interface AuthenticatedUser {
  name: string;
  fromDomains: readonly string[];
}

export interface Authenticator {
  /** null: wrong name or password (the caller does not learn which). */
  verify(name: string, password: string): Promise<AuthenticatedUser | null>;
}

export type RecipientDecision =
  | { action: 'accept' }
  | { action: 'drop'; reason: string; category: string }
  | { action: 'reject'; code: number; text: string };

/** Per-recipient policy at RCPT time (suppression, quotas). Synchronous: a SQLite lookup. */
export interface RecipientPolicy {
  check(address: ParsedAddress, user: AuthenticatedUser | null): RecipientDecision;
}

export interface ListenerDeps {
  config: SmtpConfig;
  hostname: string;
  tls: { key: string | Buffer; cert: string | Buffer };
  intake: Intake;
  authenticator: Authenticator;
  throttle: AuthThrottle;
  mayRelay: (ip: string) => boolean;
  recipientPolicy: RecipientPolicy;
  clock: Clock;
  logger: Logger;
}

interface FerryAddress extends SMTPServerAddress {
  ferry?: { parsed: ParsedAddress; decision: RecipientDecision };
}

export interface SmtpListener {
  /** Binds both listeners; resolves with the bound addresses. */
  start(): Promise<{ smtp: string; smtps: string | null }>;
  /** Refuse new work with 421, let sessions in DATA finish within the grace time, then close. */
  stop(): Promise<void>;
  readonly activeSessions: number;
}

export function createSmtpListener(deps: ListenerDeps): SmtpListener {
  installEnhancedCodePassthrough();
  const { config, logger } = deps;
  let draining = false;
  const inData = new Set<string>();
  let active = 0;

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
      // AUTH over clear text is refused in onAuth unless the client is on loopback.
      allowInsecureAuth: true,
      hideSTARTTLS: secure,
      hidePIPELINING: false,
      hide8BITMIME: false,
      hideSMTPUTF8: false,
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      maxClients: config.maxClients,
      socketTimeout: config.idleTimeoutMs,
      closeTimeout: config.shutdownGraceMs,
      logger: false,
      onConnect(session: SMTPServerSession, cb: (err?: Error) => void) {
        if (draining) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
        if (deps.throttle.isLocked(session.remoteAddress)) {
          return cb(smtpError(421, '4.7.0 Too many failed authentication attempts, try again later'));
        }
        active++;
        cb();
      },
      onClose(session: SMTPServerSession) {
        active = Math.max(0, active - 1);
        inData.delete(session.id);
        logger.debug({ session: session.id, ip: session.remoteAddress, transactions: session.transaction }, 'session closed');
      },
      onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: { user: unknown }) => void) {
        const ip = session.remoteAddress;
        if (!session.secure && !isLoopback(ip)) {
          return cb(smtpError(538, '5.7.11 Encryption required: use STARTTLS before AUTH'));
        }
        if (deps.throttle.isLocked(ip)) return cb(smtpError(421, '4.7.0 Too many failed authentication attempts, try again later'));
        deps.authenticator
          .verify(auth.username ?? '', auth.password ?? '')
          .then((u) => {
            if (u) {
              deps.throttle.succeed(ip);
              logger.info({ session: session.id, ip, user: u.name }, 'authenticated');
              return cb(null, { user: u });
            }
            const locked = deps.throttle.fail(ip);
            logger.warn({ session: session.id, ip, user: auth.username, locked }, 'authentication failed');
            cb(
              locked
                ? smtpError(421, '4.7.0 Too many failed authentication attempts, closing connection')
                : smtpError(535, '5.7.8 Authentication credentials invalid'),
            );
          })
          .catch((err: unknown) => {
            logger.error({ session: session.id, err }, 'authentication error');
            cb(smtpError(454, '4.7.0 Temporary authentication failure'));
          });
      },
      onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, cb: (err?: Error) => void) {
        if (draining && !inData.has(session.id)) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
        const u = user(session);
        if (!u && !deps.mayRelay(session.remoteAddress)) {
          return cb(smtpError(530, '5.7.0 Authentication required'));
        }
        if (address.address === '') return cb();
        const parsed = parseAddress(address.address);
        if (!parsed) return cb(smtpError(501, `5.1.7 Bad sender address syntax <${address.address}>`));
        if (u && !domainAllowed(parsed.domain, u.fromDomains)) {
          return cb(smtpError(550, `5.7.1 Sender domain ${parsed.domain} is not allowed for user ${u.name}`));
        }
        cb();
      },
      onRcptTo(address: FerryAddress, session: SMTPServerSession, cb: (err?: Error) => void) {
        if (session.envelope.rcptTo.length >= config.maxRecipients) {
          return cb(smtpError(452, `4.5.3 Too many recipients (at most ${config.maxRecipients} per message)`));
        }
        const parsed = parseAddress(address.address);
        if (!parsed) return cb(smtpError(501, `5.1.3 Bad recipient address syntax <${address.address}>`));
        const smtputf8 = hasSmtpUtf8(session.envelope.mailFrom);
        if (parsed.utf8Local && !smtputf8) {
          return cb(smtpError(553, '5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL FROM'));
        }
        let decision: RecipientDecision;
        try {
          decision = deps.recipientPolicy.check(parsed, user(session));
        } catch (err) {
          logger.error({ session: session.id, err }, 'recipient policy failed');
          return cb(smtpError(451, '4.3.0 Temporary local problem, try again later'));
        }
        if (decision.action === 'reject') return cb(smtpError(decision.code, decision.text));
        address.ferry = { parsed, decision };
        cb();
      },
      onData(stream: Readable, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void) {
        inData.add(session.id);
        const mailFrom = session.envelope.mailFrom as SMTPServerAddress;
        const recipients: IntakeRecipient[] = (session.envelope.rcptTo as FerryAddress[]).map((a) => {
          const f = a.ferry!;
          return f.decision.action === 'drop'
            ? { address: f.parsed.address, domain: f.parsed.domain, status: 'dropped', reason: f.decision.reason, category: f.decision.category }
            : { address: f.parsed.address, domain: f.parsed.domain, status: 'queued', reason: null, category: null };
        });
        const u = user(session);
        const tls = session.secure && session.tlsOptions ? (session.tlsOptions as { version?: string }).version ?? 'TLS' : null;
        const intakeSession: IntakeSession = {
          sessionId: session.id,
          clientIp: session.remoteAddress,
          clientHostname: session.clientHostname ?? null,
          helo: session.hostNameAppearsAs ?? null,
          tls,
          username: u?.name ?? null,
          allowedFromDomains: u?.fromDomains ?? null,
          sender: mailFrom.address,
          recipients,
          smtputf8: hasSmtpUtf8(mailFrom),
          protocol: `ESMTP${tls ? 'S' : ''}${u ? 'A' : ''}` as IntakeSession['protocol'],
        };
        const timer = deps.clock.setTimer(config.dataTimeoutMs, () => {
          logger.warn({ session: session.id, ip: session.remoteAddress }, 'DATA timeout, closing connection');
          closeSession(session.id);
        });
        deps.intake
          .receive(intakeSession, stream)
          .then(
            (res) => {
              logger.info(
                { session: session.id, queueId: res.id, user: intakeSession.username, sender: intakeSession.sender, recipients: recipients.length, dropped: recipients.filter((r) => r.status === 'dropped').length, size: res.size, tls, ip: session.remoteAddress },
                'message accepted',
              );
              cb(null, `2.0.0 Ok: queued as ${res.id}`);
            },
            (err: unknown) => {
              const fe = err instanceof FerryError ? err : smtpError(451, '4.3.0 Local error, try again later');
              logger.info({ session: session.id, ip: session.remoteAddress, code: fe.responseCode, reason: fe.message }, 'message refused');
              cb(fe);
            },
          )
          .finally(() => {
            timer.cancel();
            inData.delete(session.id);
          });
      },
    };
  }

  const plain = new SMTPServer(options(false) as never);
  const secure = config.tlsListen ? new SMTPServer(options(true) as never) : null;
  for (const [server, kind] of [[plain, 'smtp'], [secure, 'smtps']] as const) {
    server?.on('error', (err: Error) => logger.warn({ listener: kind, err: err.message }, 'listener error'));
  }

  function closeSession(id: string): void {
    for (const server of [plain, secure]) {
      for (const conn of (server as unknown as { connections?: Set<{ id: string; send(code: number, text: string): void; close(): void }> })?.connections ?? []) {
        if (conn.id === id) {
          conn.send(421, '4.4.2 DATA timeout, closing connection');
          conn.close();
        }
      }
    }
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
      const smtp = await listen(plain, config.listen);
      const smtps = secure && config.tlsListen ? await listen(secure, config.tlsListen) : null;
      return { smtp, smtps };
    },
    async stop() {
      draining = true;
      await Promise.all([plain, secure].map((s) => (s ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined)));
    },
    get activeSessions() {
      return active;
    },
  };
}

function hasSmtpUtf8(mailFrom: SMTPServerAddress | false): boolean {
  if (!mailFrom || !mailFrom.args) return false;
  return Boolean((mailFrom.args as Record<string, unknown>)['SMTPUTF8']);
}
