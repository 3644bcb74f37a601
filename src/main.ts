import { join } from 'node:path';
import { systemClock } from './core/clock.js';
import { createIdGenerator } from './core/ids.js';
import { createLogger } from './core/logger.js';
import { systemRandom } from './core/random.js';
import { createDnsResolver } from './core/resolver.js';
import type { Config } from './config/schema.js';
import { immediateTransactions, openDatabase } from './store/db.js';
import { createQueueStore } from './store/queue-store.js';
import { openThreadedSqliteStore, type ThreadedSqliteStore } from './store/sqlite/threaded.js';
import { deferredStore } from './store/deferred.js';
import type { Store } from './core/store.js';
import { createUsersRepo } from './store/users-repo.js';
import { createDkimKeysRepo } from './store/dkim-keys-repo.js';
import { createSpool } from './spool/spool.js';
import { recoverSpool } from './spool/recovery.js';
import { createAuthThrottle } from './policy/auth-throttle.js';
import { createAuthenticator } from './policy/authenticator.js';
import { createNetworkMatcher } from './policy/networks.js';
import { createSenderDomainCheck } from './policy/sender-domains.js';
import { createIntake, type MessageCheck } from './receive/intake.js';
import { createSmtpListener, type RecipientPolicy, type SmtpListener } from './receive/smtp-listener.js';
import { loadTlsMaterial } from './receive/tls-cert.js';
import { createMessagePreparer } from './sign/prepare.js';
import { createLiveParts, liveRetryPolicy } from './live-parts.js';
import { createDeliverer } from './deliver/deliverer.js';
import { createClassifier, isRateLimit } from './classify/classifier.js';
import { createOutcomeApplier } from './outcome/apply.js';
import { createConsequences } from './outcome/consequences.js';
import { createDsnNotifier } from './outcome/dsn.js';
import { createWebhookSender } from './workers/webhook-sender.js';
import { createWebhooksRepo } from './store/webhooks-repo.js';
import { createVerp } from './bounce/verp.js';
import { createBounceProcessor } from './bounce/process.js';
import { createBounceListener, type BounceListener } from './bounce/listener.js';
import { createSuppressionPolicy } from './suppress/recipient-policy.js';
import { createSuppressionList } from './suppress/suppression-list.js';
import { createScheduler } from './workers/scheduler.js';
import { createLimitsRepo } from './store/limits-repo.js';
import { createQuotaRepo } from './store/quota-repo.js';
import { createThrottle } from './throttle/throttle.js';
import { createQuotas } from './throttle/quotas.js';
import { slowDownListener } from './throttle/adaptive.js';
import { composeRecipientPolicies } from './throttle/compose.js';
import { errorMessage, FerryError } from './core/errors.js';
import { splitHostPort } from './config/load.js';
import { createStatsRepo } from './store/stats-repo.js';
import { createDiskGuard } from './ops/disk-guard.js';
import { createMetrics, refusalReason } from './ops/metrics.js';
import { createReadiness } from './ops/health.js';
import { createIntegrityProbe } from './ops/integrity-probe.js';
import { planReload } from './ops/reload.js';
import { isFullyQualified } from './config/hostname.js';
import { createRetention } from './ops/retention.js';
import { createHttpEndpoint, type HttpEndpoint, type HttpPlugin } from './http/server.js';
import { createConsolePlugin } from './http/console/plugin.js';
import { createConsoleQueries } from './http/console/queries.js';
import { createConsoleActions } from './http/console/actions.js';
import { createAdminsRepo } from './store/admins-repo.js';
import { createQueueAdminRepo } from './store/queue-admin-repo.js';
import { VERSION } from './admin/version.js';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createOneClick } from './suppress/one-click.js';
import { createUnsubscriber, tokenFromMail } from './suppress/unsubscriber.js';

import type { Ferry, FerryDeps, ReloadResult } from './ferry-types.js';

export type { Ferry, FerryDeps, ReloadResult };

/** The composition root: the only place that builds the real parts and wires them together. */
export function createFerry(config: Config, deps: FerryDeps = {}): Ferry {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const logger = deps.logger ?? createLogger(config.log.level);
  const resolver = deps.resolver ?? createDnsResolver(config.dns);
  // quick_check first: a corrupt database stops the start (exit 4), it is not served as healthy.
  // Immediate transactions: the writer thread (below) writes the same file; see immediateTransactions.
  const db = immediateTransactions(openDatabase({ file: join(config.dataDir, 'ferry.db'), checkIntegrity: true }));
  const queue = createQueueStore(db);
  const users = createUsersRepo(db);
  const dkimKeys = createDkimKeysRepo(db);
  const spool = createSpool({ dir: join(config.dataDir, 'spool'), inlineMaxBytes: config.spool.inlineMaxBytes });
  // The store (issue 13): writes on the SQLite writer thread (group commit, fsync off this event
  // loop), opened by start(). Parts not yet moved to the Store interface still use `db` above.
  let store: ThreadedSqliteStore | null = null;
  const requireStore = (): ThreadedSqliteStore => {
    if (!store) throw new FerryError('FERRY_ERR_STORE', 'the store is not open (ferry not started)');
    return store;
  };
  // Parts built here reach the store (opened in start()) through this view.
  const lateStore = deferredStore(requireStore);
  // Intake's transaction also records the DSNs its dropped recipients make due (plain data, see dsn below).
  const intakeStore: Pick<Store, 'queue'> = {
    queue: {
      expireMessage: (...args) => lateStore.queue.expireMessage(...args),
      expireOverdue: (...args) => lateStore.queue.expireOverdue(...args),
      accept: (batch) => lateStore.queue.accept(dsn ? batch.map((m) => ({ ...m, dsnOutbox: dsn.intakeReports(m) })) : batch),
    },
  };
  const newId = createIdGenerator(clock, random);
  // Live settings read `current` (reload swaps it); settings only a restart changes read `config`.
  let current = config;

  // Operations (issue 7): disk guard, metrics and health; the HTTP endpoint starts with the listeners.
  const stats = createStatsRepo(db);
  const disk = createDiskGuard({ path: config.dataDir, thresholds: config.disk, clock, logger });
  const metrics = createMetrics({
    clock,
    version: VERSION,
    queueDepth: () => stats.queueDepth(),
    oldestQueuedAt: () => stats.oldestQueued()?.createdAt ?? null,
    activeSessions: () => listener?.activeSessions ?? 0,
    outboundConnections: () => scheduler.stats.connections,
    maxDestinations: config.http.metricsTopDestinations,
    disk: () => {
      const d = disk.state();
      return { freeBytes: d.freeBytes, low: !d.accepting };
    },
  });
  let listening = false;
  const readiness = createReadiness({
    db,
    disk,
    integrity: createIntegrityProbe({ file: join(config.dataDir, 'ferry.db'), clock }).check,
    listening: () => (listening ? { ok: true, detail: 'bound' } : { ok: false, detail: stopped ? 'shutting down' : 'not started' }),
  });
  let http: HttpEndpoint | null = null;
  let bound: { smtp: string; smtps: string | null; http: string | null } | null = null;

  // DKIM keys and signer, the DMARC guard and the router: rebuilt by a reload, behind stable wrappers.
  const live = createLiveParts(config, { dkimKeys, resolver, clock, random, logger, maxHeaderBytes: config.smtp.maxHeaderBytes });
  // One-click unsubscribe (issue 16): per-recipient List-Unsubscribe with an HMAC token, and the endpoint.
  const unsubscribeMailto = config.verp.enabled && config.verp.domain && config.bounceListener.listen ? `${config.unsubscribe.mailtoLocalPart}@${config.verp.domain}`.toLowerCase() : null;
  const oneClick =
    config.unsubscribe.baseUrl && config.unsubscribe.secret
      ? createOneClick({ secret: config.unsubscribe.secret, baseUrl: config.unsubscribe.baseUrl, mailto: unsubscribeMailto })
      : null;
  const preparer = createMessagePreparer({
    messages: queue.messages,
    spool,
    signer: live.signer,
    clock,
    logger,
    unsubscribeHeaders: oneClick ? (m, recipient) => oneClick.headers({ queueId: m.id, user: m.username, recipient }) : undefined,
  });
  const checks: MessageCheck[] = [createSenderDomainCheck(), live.dmarcCheck];
  const deliverer = createDeliverer({ router: live.router, hostname: config.hostname, timeouts: config.delivery, clock, logger });
  // Bounces (issue 5): suppression of bad addresses, sender-problem counts, DSNs to the sender.
  const bounceSuppressions = createSuppressionList({ db, clock });
  const consequences = createConsequences({ suppressions: bounceSuppressions, logger, now: () => clock.now() });
  const dsn = config.dsn.enabled
    ? createDsnNotifier({
        db,
        queue,
        hostname: config.hostname,
        clock,
        random,
        newId,
        logger,
        config: config.dsn,
        maxAgeHours: config.delivery.maxAgeHours,
        suppressionOf: (address, user) => bounceSuppressions.find(address, user),
        onQueued: () => scheduler.poke(),
        readFull: (m) => {
          if (m.size > config.dsn.returnFullMaxBytes) return null;
          if (!m.spoolFile) return Buffer.concat([m.headers, m.body ?? Buffer.alloc(0)]);
          try {
            return Buffer.concat([m.headers, readFileSync(join(spool.dir, m.spoolFile))]);
          } catch {
            return null;
          }
        },
      })
    : null;
  // A lost body (a disk fault) ends the message's pending recipients; the sender is told in the same transaction.
  const expireLostBodyTx = db.transaction((id: string, reason: string) => {
    const now = clock.now();
    const expired = queue.expireMessage(id, now, reason);
    dsn?.recordBodyLost(id, expired, reason, now);
    // Reported once: the row stops pointing at the lost file, so no later start reports it again.
    queue.messages.markBodyLost(id, now);
  });
  function expireLostBody(id: string, reason: string): void {
    expireLostBodyTx(id, reason);
    dsn?.flush();
  }
  // Asynchronous bounces (issue 5): VERP return paths, and the bounce-domain listener that reads what comes back.
  const verp =
    config.verp.enabled && config.verp.domain && config.verp.secret
      ? createVerp({ domain: config.verp.domain, secret: config.verp.secret, localPart: config.verp.localPart })
      : null;
  if (config.bounceListener.listen && !verp) {
    throw new FerryError('FERRY_ERR_CONFIG', 'bounceListener.listen needs verp.enabled (with verp.domain and verp.secret): without VERP tokens no report can be trusted');
  }
  let bounceListener: BounceListener | null = null;
  // Events (issue 5): every event in the log goes out as signed JSON batches to each URL.
  const webhooks =
    config.webhooks.urls.length > 0 && config.webhooks.secret
      ? createWebhookSender({
          config: { ...config.webhooks, secret: config.webhooks.secret },
          repo: createWebhooksRepo(db),
          events: queue.events,
          messages: queue.messages,
          clock,
          logger,
          owner: config.hostname,
          userAgent: `Ferry/${VERSION}`,
        })
      : null;
  // Per-destination limits (src/throttle): the scheduler's gate. Limits changed by the CLI are
  // picked up within limits.reloadIntervalMs; mail held back under the old ones is due again.
  const throttle = createThrottle({
    repo: createLimitsRepo(db),
    resolver,
    clock,
    logger,
    defaults: { connections: config.limits.defaultConnections, perConnection: config.delivery.messagesPerConnection },
    params: config.limits,
    onLimitsChanged: () => {
      const n = queue.recipients.wakeHeld(clock.now());
      if (n) logger.info({ recipients: n }, 'limits changed: mail waiting for budget is scheduled again');
      scheduler.poke();
    },
  });
  metrics.setThrottledDestinationsProvider(() => throttle.heldBack());
  // Adaptive slow-down: the classifier's rate_limited verdict halves the destination's rate.
  const slowDown = slowDownListener(throttle, isRateLimit);
  const quotas = createQuotas({ repo: createQuotaRepo(db), clock, logger, persistIntervalMs: config.limits.persistIntervalMs });
  checks.push(quotas.messageCheck);
  // Retention (issue 12): finished bodies go at once (or after keepBodiesHours), old records after retention.days.
  const retention = createRetention({
    store: lateStore,
    removeSpoolFile: (file) => spool.remove(file),
    clock,
    logger,
    settings: () => current.retention,
    webhookUrls: () => (webhooks ? config.webhooks.urls : []),
  });
  const outcome = createOutcomeApplier({
    db,
    queue,
    classifier: createClassifier(),
    // Read at each decision, so a reload changes the schedule from the next attempt on.
    retry: liveRetryPolicy(() => current),
    clock,
    random,
    logger,
    suppress: consequences.suppress,
    withinTransaction: dsn ? (applied, ctx, now) => dsn.recordApplied(applied, ctx, now) : undefined,
    onApplied: (applied, ctx) => {
      metrics.attempted(applied.map((a) => ({ domain: a.recipient.domain, status: a.decision.status, category: a.decision.classification?.category ?? null, acceptedAt: a.recipient.createdAt })));
      consequences.onApplied(applied, ctx);
      dsn?.flush();
      webhooks?.poke();
      slowDown(applied);
      retention.finished(applied.filter((a) => a.decision.status !== 'deferred').map((a) => a.recipient.messageId));
    },
  });
  // Expiry on time: recipients that no attempt would reach before their maximum age passes.
  const expireOverdueTx = db.transaction((now: number) => {
    const maxAgeHours = current.delivery.maxAgeHours;
    const rows = queue.expireOverdue(now, maxAgeHours * 3_600_000, 500, `not delivered within ${maxAgeHours} hour${maxAgeHours === 1 ? '' : 's'} (delivery.maxAgeHours)`);
    if (dsn) {
      const byMessage = new Map<string, typeof rows>();
      for (const r of rows) byMessage.set(r.messageId, [...(byMessage.get(r.messageId) ?? []), r]);
      for (const [messageId, list] of byMessage) {
        dsn.record(
          messageId,
          list.map((r) => ({
            address: r.address, kind: 'expired', category: r.category, reply: r.lastReply, code: r.lastCode, enhanced: r.lastEnhanced,
            remoteMta: r.mxHost, lastAttemptAt: r.attempts > 0 ? r.updatedAt : null,
          })),
          now,
        );
      }
    }
    return rows;
  });
  function expireOverdue(now: number): number {
    const rows = expireOverdueTx(now);
    if (rows.length === 0) return 0;
    logger.info({ recipients: rows.length, queueIds: [...new Set(rows.map((r) => r.messageId))].slice(0, 20) }, 'expired: maximum age passed before the next attempt');
    dsn?.flush();
    webhooks?.poke();
    retention.finished(rows.map((r) => r.messageId));
    if (rows.length === 500) scheduler.poke();
    return rows.length;
  }
  const scheduler = createScheduler({
    queue,
    // Claims and releases on the writer thread: the claim transaction no longer runs on this loop.
    store: lateStore,
    spool,
    deliverer,
    outcome,
    clock,
    logger,
    owner: config.hostname,
    concurrency: config.delivery.concurrency,
    leaseMs: config.delivery.leaseMs,
    gate: throttle,
    prepare: (id) => preparer.prepare(id),
    recipientHeaders: oneClick ? (prepared, r) => preparer.forRecipient(prepared, r) : undefined,
    envelopeSender: verp ? (m, rows) => verp.envelopeSender(m, rows) : undefined,
    transactionPerRecipient: verp !== null,
    expireLostBody,
    expireOverdue,
  });

  const intake = createIntake({
    spool,
    store: intakeStore,
    clock,
    newId,
    hostname: config.hostname,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    maxMessageSizeBytes: config.smtp.maxMessageSizeBytes,
    checks,
    logger,
    onAccepted: (ids) => {
      scheduler.poke();
      dsn?.flush();
      webhooks?.poke();
    },
  });

  // RCPT-time policies, in order; the first that does not accept decides. Suppression goes
  // first (a dropped recipient costs no quota), the per-user recipient quota last.
  const recipientPolicy: RecipientPolicy = composeRecipientPolicies(
    createSuppressionPolicy({ list: bounceSuppressions, mode: () => current.suppression.mode }),
    quotas.recipientPolicy,
  );
  let listener: SmtpListener | null = null;
  let stopped = false;
  const unsubscriber = oneClick
    ? createUnsubscriber({ db, queue, oneClick, suppressions: bounceSuppressions, clock, logger, onRecorded: () => webhooks?.poke() })
    : null;
  // The endpoint is a fastify plugin (http/unsubscribe.ts); here it gets a small fastify server of its own.
  let unsubscribeHttp: FastifyInstance | null = null;

  // Routes on the HTTP endpoint beside /metrics and health: the web console (issue 17); more may be pushed here.
  const httpPlugins: HttpPlugin[] = [];
  if (config.http.console) {
    const consoleQueries = createConsoleQueries(db);
    const consoleLimits = createLimitsRepo(db);
    httpPlugins.push(
      createConsolePlugin({
        queries: consoleQueries,
        actions: createConsoleActions({
          db, clock, queries: consoleQueries, suppressions: bounceSuppressions, events: queue.events, queueAdmin: createQueueAdminRepo(db), limits: consoleLimits, dsn,
          onQueueChanged: () => scheduler.poke(),
          onLimitsChanged: () => throttle.reloadLimits(),
        }),
        admins: createAdminsRepo(db),
        suppressions: bounceSuppressions,
        limits: consoleLimits,
        clock,
        logger,
        maxAgeHours: () => current.delivery.maxAgeHours,
        heldBack: () => throttle.heldBack(),
      }),
    );
  }

  async function reload(next: Config): Promise<ReloadResult> {
    const plan = planReload(current, next);
    let tls: ReturnType<typeof loadTlsMaterial> | null = null;
    let parts: ReturnType<typeof live.build>;
    try {
      // Load everything that can fail before swapping anything in. Certificates and key files
      // are read again even when their paths did not change (a renewed certificate, a rotated key).
      if (listener) tls = loadTlsMaterial({ ...next.smtp.tls, dataDir: config.dataDir, hostname: config.hostname });
      parts = live.build(next);
    } catch (err) {
      const error = errorMessage(err);
      metrics.reloaded(false);
      logger.error({ err: error }, `config reload refused, the running configuration stays: ${error}`);
      return { ok: false, error, applied: [], restartNeeded: [] };
    }
    current = next;
    live.swap(parts);
    if (tls) listener?.updateTls(tls);
    logger.level = next.log.level;
    throttle.reloadLimits();
    await disk.update(next.disk);
    metrics.reloaded(true);
    // Against the configuration the relay started with: a restart-only key changed by an earlier
    // reload still waits for the restart (`current` already holds its new value).
    const restartNeeded = planReload(config, next).restart;
    if (restartNeeded.length) {
      logger.warn({ keys: restartNeeded }, `config reloaded, but these settings keep their old value until a restart: ${restartNeeded.join(', ')}`);
    }
    logger.info({ applied: plan.live }, 'config reloaded');
    return { ok: true, error: null, applied: plan.live, restartNeeded };
  }

  const ferry: Ferry = {
    get config() {
      return current;
    },
    metrics,
    readiness: () => readiness.check(),
    reload,
    bounceReport: () => ({ senderProblems: consequences.senderProblems(), webhooks: webhooks?.state() ?? [] }),
    get addresses() {
      return bound;
    },
    db,
    queue,
    spool,
    logger,
    scheduler,
    retention,
    async start() {
      const now = clock.now();
      const released = queue.recipients.releaseOwned(config.hostname, now);
      if (released) logger.warn({ recipients: released }, 'recovery: deliveries in flight at the last stop are due again');
      const report = await recoverSpool({ spool, referenced: () => queue.messages.spoolFiles(), logger });
      for (const id of report.missingBodies) expireLostBody(id, 'spool file missing at start-up: the message body was lost');
      for (const id of report.finishedWithoutFile) queue.messages.forgetSpoolFile(id, now);
      // Reports recorded before a crash but not yet queued.
      dsn?.flush();
      const tls = loadTlsMaterial({ ...config.smtp.tls, dataDir: config.dataDir, hostname: config.hostname });
      webhooks?.prepare();
      await disk.start();
      // The HTTP endpoint binds first: if its port is taken, nothing else has started.
      let httpAddress: string | null = null;
      if (config.http.listen) {
        http = createHttpEndpoint({
          listen: config.http.listen,
          logger,
          metrics,
          readiness: () => readiness.check(),
          about: () => ({ version: VERSION, pid: process.pid, hostname: config.hostname, listeners: bound, dataDir: config.dataDir }),
          plugins: httpPlugins,
          trustProxy: config.http.trustProxy,
        });
        try {
          httpAddress = await http.start();
        } catch (err) {
          disk.stop();
          throw err;
        }
      }
      listener = createSmtpListener({
        config: config.smtp,
        hostname: config.hostname,
        tls,
        intake,
        authenticator: createAuthenticator(users, deps.verifyPassword),
        throttle: createAuthThrottle(clock, config.smtp.authFailures),
        mayRelay: createNetworkMatcher(config.smtp.relayNetworks),
        recipientPolicy,
        senderPolicy: quotas.senderPolicy,
        clock,
        logger,
        diskAccepting: () => disk.accepting(),
        observer: {
          accepted: (recipients) => metrics.messageAccepted(recipients),
          refused: (phase, err) => metrics.refused(phase, refusalReason(phase, err)),
        },
      });
      let smtpAddresses: { smtp: string; smtps: string | null };
      try {
        smtpAddresses = await listener.start();
      } catch (err) {
        await http?.stop();
        disk.stop();
        throw err;
      }
      let unsubscribeAddress: string | null = null;
      if (unsubscriber && config.unsubscribe.listen) {
        const { host, port } = splitHostPort(config.unsubscribe.listen);
        // Loaded only when configured: a relay without the endpoint does not pay for fastify at start.
        const [{ default: Fastify }, { unsubscribeRoutes }] = await Promise.all([import('fastify'), import('./http/unsubscribe.js')]);
        unsubscribeHttp = Fastify({ logger: false });
        await unsubscribeHttp.register(unsubscribeRoutes, { unsubscriber });
        try {
          await unsubscribeHttp.listen({ host, port });
          const a = unsubscribeHttp.server.address();
          unsubscribeAddress = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : config.unsubscribe.listen;
        } catch (err) {
          await listener.stop();
          await http?.stop();
          disk.stop();
          throw new FerryError('FERRY_ERR_CONFIG', `cannot listen on ${config.unsubscribe.listen}: ${errorMessage(err)}`, { cause: err });
        }
      }
      let bounceAddress: string | null = null;
      if (verp && config.bounceListener.listen) {
        bounceListener = createBounceListener({
          options: { ...config.bounceListener, listen: config.bounceListener.listen, hostname: config.hostname, tls },
          isBounceDomain: (domain) => domain === verp.domain,
          processor: createBounceProcessor({
            db,
            queue,
            verp,
            classifier: createClassifier(),
            suppressions: bounceSuppressions,
            clock,
            logger,
            dsn: dsn ?? undefined,
            onRecorded: () => webhooks?.poke(),
          }),
          logger,
          unsubscribe:
            unsubscriber && unsubscribeMailto
              ? {
                  address: unsubscribeMailto,
                  handle: async (raw) => {
                    const token = await tokenFromMail(raw);
                    return token ? unsubscriber.unsubscribe(token, 'mailto') : { ok: false };
                  },
                }
              : undefined,
        });
        try {
          bounceAddress = await bounceListener.start();
        } catch (err) {
          await listener.stop();
          await unsubscribeHttp?.close();
          await http?.stop();
          disk.stop();
          throw err;
        }
      }
      const addresses = { ...smtpAddresses, http: httpAddress, bounce: bounceAddress, unsubscribe: unsubscribeAddress };
      bound = addresses;
      listening = true;
      throttle.start();
      quotas.start();
      scheduler.start();
      webhooks?.start();
      retention.start();
      if (!isFullyQualified(config.hostname)) {
        logger.warn(
          { hostname: config.hostname, key: 'hostname' },
          `hostname "${config.hostname}" (EHLO, Received, MAILER-DAEMON@${config.hostname}) is not a fully qualified domain name: remote servers may refuse the mail; set "hostname" in the configuration (e.g. relay.example.com)`,
        );
      }
      logger.info({ ...addresses, dataDir: config.dataDir, hostname: config.hostname, selfSignedTls: tls.selfSigned }, 'ferry started');
      return addresses;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      listening = false;
      disk.stop();
      logger.info('ferry stopping');
      if (listener) await listener.stop();
      await bounceListener?.stop();
      // Intake commits sent by the last sessions: let them land before deliveries stop.
      while (store?.writable && store.writerStats().inFlight > 0) await new Promise((r) => setTimeout(r, 2));
      await scheduler.stop(config.smtp.shutdownGraceMs);
      await store?.close();
      await webhooks?.stop();
      await retention.stop();
      await unsubscribeHttp?.close();
      await http?.stop();
      throttle.stop();
      quotas.stop();
      db.close();
      logger.info('ferry stopped');
      logger.flush?.();
    },
  };
  // The store's writer thread opens first; a start that fails half-way must not leave it running
  // (it would hold the process open).
  const startParts = ferry.start.bind(ferry);
  ferry.start = async () => {
    store = await openThreadedSqliteStore({
      file: join(config.dataDir, 'ferry.db'),
      maxBatch: config.spool.commitBatchMax,
      ...(deps.storeWriterEntry ? { writerEntry: deps.storeWriterEntry } : {}),
      onWriterFailure: (err) => {
        // Nothing more can be made durable: no client may get a 250 now. Stop accepting (421)
        // and say so loudly; messages already answered 250 are on disk.
        logger.error({ err: err.message }, `database writer thread failed: the relay stops accepting mail (421) — restart ferry: ${err.message}`);
        listening = false;
        void listener?.stop();
      },
    });
    try {
      return await startParts();
    } catch (err) {
      await store?.close();
      store = null;
      throw err;
    }
  };
  return ferry;
}
