import { join } from 'node:path';
import { systemClock, type Clock } from './core/clock.js';
import { createIdGenerator } from './core/ids.js';
import { createLogger, type Logger } from './core/logger.js';
import { systemRandom, type Random } from './core/random.js';
import { createDnsResolver, type DnsResolver } from './core/resolver.js';
import type { Config } from './config/schema.js';
import { openDatabase, type Db } from './store/db.js';
import { createGroupCommitter } from './store/group-commit.js';
import { createQueueStore, type AcceptedMessage, type QueueStore } from './store/queue-store.js';
import { createUsersRepo } from './store/users-repo.js';
import { createDkimKeysRepo } from './store/dkim-keys-repo.js';
import { createSpool, type Spool } from './spool/spool.js';
import { recoverSpool } from './spool/recovery.js';
import { createAuthThrottle } from './policy/auth-throttle.js';
import { createAuthenticator } from './policy/authenticator.js';
import { createNetworkMatcher } from './policy/networks.js';
import { createSenderDomainCheck } from './policy/sender-domains.js';
import { createDmarcGuard } from './policy/dmarc-guard.js';
import { createDmarcCheck } from './policy/dmarc-check.js';
import { createIntake, type MessageCheck } from './receive/intake.js';
import { createSmtpListener, type RecipientPolicy, type SmtpListener } from './receive/smtp-listener.js';
import { loadTlsMaterial } from './receive/tls-cert.js';
import { createKeySource } from './sign/keys.js';
import { createSigner } from './sign/signer.js';
import { createMessagePreparer } from './sign/prepare.js';
import { createRouter } from './deliver/route.js';
import { createDeliverer } from './deliver/deliverer.js';
import { createClassifier } from './classify/classifier.js';
import { createOutcomeApplier } from './outcome/apply.js';
import { createScheduler, type DestinationGate, type Scheduler } from './workers/scheduler.js';

export interface FerryDeps {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  resolver?: DnsResolver;
}

export interface Ferry {
  readonly config: Config;
  readonly db: Db;
  readonly queue: QueueStore;
  readonly spool: Spool;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Recovers, binds the listeners and starts the workers. */
  start(): Promise<{ smtp: string; smtps: string | null }>;
  /** Graceful: stop accepting, let sessions in DATA finish, finish or hand back deliveries, close the database. */
  stop(): Promise<void>;
}

/** The composition root: the only place that builds the real parts and wires them together. */
export function createFerry(config: Config, deps: FerryDeps = {}): Ferry {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const logger = deps.logger ?? createLogger(config.log.level);
  const resolver = deps.resolver ?? createDnsResolver(config.dns);
  const db = openDatabase({ file: join(config.dataDir, 'ferry.db') });
  const queue = createQueueStore(db);
  const users = createUsersRepo(db);
  const dkimKeys = createDkimKeysRepo(db);
  const spool = createSpool({ dir: join(config.dataDir, 'spool'), inlineMaxBytes: config.spool.inlineMaxBytes });
  const committer = createGroupCommitter<AcceptedMessage>((batch) => queue.accept(batch), config.spool.commitBatchMax);
  const newId = createIdGenerator(clock, random);

  // DKIM keys: configured PEM files plus those made by `ferry dkim keygen` (read per lookup).
  const keySource = createKeySource((domain) => [
    ...config.dkim.keys,
    ...dkimKeys.byDomain(domain).map((k) => ({ domain: k.domain, selector: k.selector, keyFile: k.keyFile })),
  ]);
  const signer = createSigner({ keys: keySource, defaultDomain: config.dkim.defaultDomain, clock, maxHeaderBytes: config.smtp.maxHeaderBytes + 64 * 1024 });
  const preparer = createMessagePreparer({ messages: queue.messages, spool, signer, clock, logger });

  const checks: MessageCheck[] = [createSenderDomainCheck()];
  if (config.dmarc.mode !== 'off') {
    const guard = createDmarcGuard({
      resolver,
      clock,
      mode: config.dmarc.mode,
      hasKeyFor: (d) => keySource.keysFor(d).length > 0,
      rewrite: config.dmarc.rewrite ?? { address: '', brand: '' },
      logger,
      cacheTtlMs: config.dmarc.cacheTtlMs,
    });
    checks.push(createDmarcCheck(guard, { clock, timeoutMs: config.dmarc.lookupTimeoutMs, logger }));
  }

  const router = createRouter({
    resolver,
    routes: config.routes,
    allowPrivateMx: config.delivery.allowPrivateMx,
    port: config.delivery.port,
    random,
    requireTlsDomains: config.delivery.requireTlsDomains,
    clock,
  });
  const deliverer = createDeliverer({ router, hostname: config.hostname, timeouts: config.delivery, clock, logger });
  const outcome = createOutcomeApplier({
    db,
    queue,
    classifier: createClassifier(),
    retry: { ...config.delivery, mailboxFullSuppressAfterHours: config.bounces.mailboxFullSuppressAfterHours },
    clock,
    random,
    logger,
  });
  const gate: DestinationGate = {
    maxConnections: () => 10,
    messagesPerConnection: () => config.delivery.messagesPerConnection,
    takeMessage: () => null,
  };
  const scheduler = createScheduler({
    queue,
    spool,
    deliverer,
    outcome,
    clock,
    logger,
    owner: config.hostname,
    concurrency: config.delivery.concurrency,
    leaseMs: config.delivery.leaseMs,
    gate,
    prepare: (id) => preparer.prepare(id),
  });

  const intake = createIntake({
    spool,
    committer,
    clock,
    newId,
    hostname: config.hostname,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    maxMessageSizeBytes: config.smtp.maxMessageSizeBytes,
    checks,
    logger,
    onAccepted: () => scheduler.poke(),
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
    scheduler,
    async start() {
      const now = clock.now();
      const released = queue.recipients.releaseOwned(config.hostname, now);
      if (released) logger.warn({ recipients: released }, 'recovery: deliveries in flight at the last stop are due again');
      const report = await recoverSpool({ spool, referenced: () => queue.messages.spoolFiles(), logger });
      for (const id of report.missingBodies) {
        queue.expireMessage(id, clock.now(), 'spool file missing at start-up: the message body was lost');
      }
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
      scheduler.start();
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
      await scheduler.stop(config.smtp.shutdownGraceMs);
      db.close();
      logger.info('ferry stopped');
      logger.flush?.();
    },
  };
}
