import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { Readable } from 'node:stream';
import { FerryError, smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { splitHostPort } from '../config/load.js';
import { parseAddress } from '../policy/addresses.js';
import type { BounceProcessor } from './process.js';
import { GREETING_DELAY_OPTION, installSmtpServerPatches } from '../receive/smtp-server-patch.js';

/**
 * The bounce-domain listener (port 25 in production): where remote servers send delivery
 * reports and complaints for VERP return paths. No AUTH and no relaying: RCPT is accepted only
 * for the bounce domain (anything else is 550 5.7.1). Every message to the bounce domain is
 * answered 250 once read — reports are processed, anything else is discarded — so a remote
 * server never bounces a bounce back at us. Only the first parseMaxBytes of a message are kept
 * (memory stays bounded per session); reports put their machine-readable part first. A local failure (the database) answers 451 so the
 * remote retries.
 */
export interface BounceListenerOptions {
  listen: string;
  hostname: string;
  /** Bytes of each message kept for parsing; the rest is read and dropped (a report of a 25 MB message is still a report). */
  parseMaxBytes: number;
  maxClients: number;
  idleTimeoutMs: number;
  /** Pause before the 220 greeting (early-talker detection: remote servers that talk first get 421). Default 100. */
  greetingDelayMs?: number;
  /** STARTTLS is offered when given (the submission listener's certificate). */
  tls?: { key: string | Buffer; cert: string | Buffer } | null;
}

export interface BounceListenerDeps {
  options: BounceListenerOptions;
  isBounceDomain: (domain: string) => boolean;
  processor: BounceProcessor;
  logger: Logger;
}

export interface BounceListener {
  start(): Promise<string>;
  stop(): Promise<void>;
}

export function createBounceListener(deps: BounceListenerDeps): BounceListener {
  const { options, logger } = deps;
  let draining = false;
  const running = new Set<Promise<unknown>>();
  installSmtpServerPatches();
  const greetingDelayMs = options.greetingDelayMs ?? 100;

  const server = new SMTPServer({
    [GREETING_DELAY_OPTION]: () => greetingDelayMs,
    name: options.hostname,
    banner: 'Ferry bounce intake',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    maxClients: options.maxClients,
    socketTimeout: options.idleTimeoutMs,
    closeTimeout: 5_000,
    hideENHANCEDSTATUSCODES: false,
    onConnect(_session: SMTPServerSession, cb: (err?: Error) => void) {
      if (draining) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
      cb();
    },
    onMailFrom(_address: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error) => void) {
      // Reports come from a null sender (or any other): nothing to check.
      cb();
    },
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: (err?: Error) => void) {
      const parsed = parseAddress(address.address);
      if (!parsed || !deps.isBounceDomain(parsed.domain)) {
        logger.info({ session: session.id, ip: session.remoteAddress, rcpt: address.address }, 'bounce listener: relay attempt refused');
        return cb(smtpError(550, '5.7.1 Relay access denied: this server only accepts mail for its bounce domain'));
      }
      cb();
    },
    onData(stream: Readable & { sizeExceeded?: boolean }, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        if (size < options.parseMaxBytes) chunks.push(c.length > options.parseMaxBytes - size ? c.subarray(0, options.parseMaxBytes - size) : c);
        size += c.length;
      });
      stream.on('error', () => undefined);
      stream.on('end', () => {
        const mail = {
          sessionId: session.id,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        };
        const p = deps.processor.process(mail).then(
          (results) => {
            logger.info({ session: session.id, ip: session.remoteAddress, from: mail.mailFrom, rcptTo: mail.rcptTo, size, truncated: size > options.parseMaxBytes, results }, 'bounce listener: message processed');
            cb(null, '2.0.0 Ok: report received');
          },
          (err: unknown) => {
            logger.error({ session: session.id, err }, 'bounce listener: could not process a report');
            cb(new FerryError('FERRY_ERR_STORE', '4.3.0 Local error while processing the report, try again later', { responseCode: 451, cause: err }));
          },
        );
        running.add(p);
        void p.finally(() => running.delete(p));
      });
    },
  } as never);
  server.on('error', (err: Error) => logger.warn({ listener: 'bounce', err: err.message }, 'listener error'));

  return {
    start() {
      const { host, port } = splitHostPort(options.listen);
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(new FerryError('FERRY_ERR_CONFIG', `cannot listen on ${options.listen}: ${err.message}`, { cause: err }));
        server.server.once('error', onError);
        server.listen(port, host, () => {
          server.server.off('error', onError);
          const a = server.server.address();
          resolve(typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : options.listen);
        });
      });
    },
    async stop() {
      draining = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...running]);
    },
  };
}
