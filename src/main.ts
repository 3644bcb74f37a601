import { join } from 'node:path';
import { systemClock, type Clock } from './core/clock.js';
import { createIdGenerator } from './core/ids.js';
import { createLogger, type Logger } from './core/logger.js';
import { systemRandom, type Random } from './core/random.js';
import type { Config } from './config/schema.js';
import { openDatabase, type Db } from './store/db.js';
import { createGroupCommitter } from './store/group-commit.js';
import { createQueueStore, type AcceptedMessage, type QueueStore } from './store/queue-store.js';
import { createUsersRepo } from './store/users-repo.js';
import { createSpool, type Spool } from './spool/spool.js';
import { recoverSpool } from './spool/recovery.js';
import { createAuthThrottle } from './policy/auth-throttle.js';
import { createAuthenticator } from './policy/authenticator.js';
import { createNetworkMatcher } from './policy/networks.js';
import { createSenderDomainCheck } from './policy/sender-domains.js';
import { createIntake } from './receive/intake.js';
import { createSmtpListener, type RecipientPolicy, type SmtpListener } from './receive/smtp-listener.js';
import { loadTlsMaterial } from './receive/tls-cert.js';

export interface FerryDeps {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
}

export interface Ferry {
  readonly config: Config;
  readonly db: Db;
  readonly queue: QueueStore;
  readonly spool: Spool;
  readonly logger: Logger;
  /** Recovers, binds the listeners and starts the workers. */
  start(): Promise<{ smtp: string; smtps: string | null }>;
  /** Graceful: stop accepting, let sessions in DATA finish, close the database. */
  stop(): Promise<void>;
}

/** The composition root: the only place that builds the real parts and wires them together. */
export function createFerry(config: Config, deps: FerryDeps = {}): Ferry {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const logger = deps.logger ?? createLogger(config.log.level);
  const db = openDatabase({ file: join(config.dataDir, 'ferry.db') });
  const queue = createQueueStore(db);
  const users = createUsersRepo(db);
  const spool = createSpool({ dir: join(config.dataDir, 'spool'), inlineMaxBytes: config.spool.inlineMaxBytes });
  const committer = createGroupCommitter<AcceptedMessage>((batch) => queue.accept(batch), config.spool.commitBatchMax);
  const newId = createIdGenerator(clock, random);

  const intake = createIntake({
    spool,
    committer,
    clock,
    newId,
    hostname: config.hostname,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    maxMessageSizeBytes: config.smtp.maxMessageSizeBytes,
    checks: [createSenderDomainCheck()],
    logger,
  });

  const recipientPolicy: RecipientPolicy = { check: () => ({ action: 'accept' }) };
  let listener: SmtpListener | null = null;
  let stopped = false;

  return {
    config,
    db,
    queue,
    spool,
    logger,
    async start() {
      const released = queue.recipients.releaseAllLeases();
      const report = await recoverSpool({ spool, referenced: () => queue.messages.spoolFiles(), logger });
      for (const id of report.missingBodies) {
        queue.expireMessage(id, clock.now(), 'spool file missing at start-up: the message body was lost');
      }
      if (released) logger.warn({ recipients: released }, 'recovery: released deliveries that were in flight at a crash');
      const tls = loadTlsMaterial({ ...config.smtp.tls, dataDir: config.dataDir, hostname: config.hostname });
      listener = createSmtpListener({
        config: config.smtp,
        hostname: config.hostname,
        tls,
        intake,
        authenticator: createAuthenticator(users),
        throttle: createAuthThrottle(clock, config.smtp.authFailures),
        mayRelay: createNetworkMatcher(config.smtp.relayNetworks),
        recipientPolicy,
        clock,
        logger,
      });
      const addresses = await listener.start();
      logger.info({ ...addresses, dataDir: config.dataDir, hostname: config.hostname, selfSignedTls: tls.selfSigned }, 'ferry started');
      return addresses;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      logger.info('ferry stopping');
      if (listener) await listener.stop();
      // Group commits scheduled by the last sessions run on setImmediate; let them land.
      while (committer.pending > 0) await new Promise((r) => setImmediate(r));
      db.close();
      logger.info('ferry stopped');
      logger.flush?.();
    },
  };
}
