import { systemClock } from './core/clock.js';
import { createIdGenerator } from './core/ids.js';
import { createLogger } from './core/logger.js';
import { systemRandom } from './core/random.js';
import { createDnsResolver } from './core/resolver.js';
import type { Config } from './config/schema.js';
import { createFate } from './outcome/fate.js';
import { createAfterCommit } from './outcome/after-commit.js';
import { createExpiry } from './outcome/expiry.js';
import { withIntakeDropFates } from './outcome/intake-drops.js';
import { createRelayStore } from './store/relay-store.js';
import { createAuthThrottle } from './policy/auth-throttle.js';
import { createAuthenticator } from './policy/authenticator.js';
import { createNetworkMatcher } from './policy/networks.js';
import { createSenderDomainCheck } from './policy/sender-domains.js';
import type { MessageCheck } from './core/message-check.js';
import type { RecipientPolicy } from './core/policy.js';
import { createIntake } from './receive/intake.js';
import { raiseThisThreadPriority } from './receive/smtp-thread-priority.js';
import { createSmtpListener, type SmtpListener } from './receive/smtp-listener.js';
import { loadTlsMaterial } from './receive/tls-cert.js';
import { createMessagePreparer } from './sign/prepare.js';
import { createAcceptedHeads } from './workers/accepted-heads.js';
import { autoSignThreads, createSignPool } from './sign/pool.js';
import { createDeliverer } from './deliver/deliverer.js';
import { createSessionThread } from './deliver/session-thread.js';
import { createOutboundTlsPolicy } from './deliver/tls-policy/outbound-tls.js';
import type { TlsResultSink } from './core/tls.js';
import { createClassifier, isRateLimit } from './classify/classifier.js';
import { createOutcomeApplier } from './outcome/apply.js';
import { createConsequences } from './outcome/consequences.js';
import { createDsnNotifier } from './outcome/dsn.js';
import { createWebhookSender } from './workers/webhook-sender.js';
import { verpOf } from './bounce/verp.js';
import { createBounceProcessor } from './bounce/process.js';
import { createBounceListener, type BounceListener } from './bounce/listener.js';
import { createSuppressionPolicy } from './suppress/recipient-policy.js';
import { createSuppressionList } from './suppress/suppression-list.js';
import { createScheduler } from './workers/scheduler.js';
import { createThrottle } from './throttle/throttle.js';
import { heldMailDueOnLimitsChange } from './throttle/held-mail.js';
import { createQuotas } from './throttle/quotas.js';
import { slowDownListener } from './throttle/adaptive.js';
import { composeRecipientPolicies } from './throttle/compose.js';
import { createDiskGuard } from './ops/disk-guard.js';
import { createMetrics, refusalReason } from './ops/metrics.js';
import { createReadiness } from './ops/health.js';
import { createIntegrityProbe } from './ops/integrity-probe.js';
import { createReloader } from './ops/reload.js';
import { createReloadParts, currentRetryPolicy } from './ops/reload-parts.js';
import { hostnameWarning } from './config/hostname.js';
import { createRetention } from './ops/retention.js';
import { createStartRollback } from './ops/start-rollback.js';
import { createHttpEndpoint, type HttpEndpoint, type HttpPlugin } from './http/server.js';
import { createConsole } from './http/console/console.js';
import { VERSION } from './core/version.js';
import { oneClickOf } from './suppress/one-click.js';
import { createUnsubscriber } from './suppress/unsubscriber.js';
import { createUnsubscribeEndpoint } from './http/unsubscribe.js';
import { createTlsReportSink } from './tlsrpt/sink.js';
import { createTlsReporter } from './tlsrpt/reporter.js';
import { tlsReporterSettings } from './tlsrpt/settings.js';

import type { Ferry, FerryDeps, ReloadResult } from './ferry-types.js';

export type { Ferry, FerryDeps, ReloadResult };

/** The composition root: the only place that builds the real parts and wires them together. */
export function createFerry(config: Config, deps: FerryDeps = {}): Ferry {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const logger = deps.logger ?? createLogger(config.log.level);
  const resolver = deps.resolver ?? createDnsResolver(config.dns);
  // The store engine (store/relay-store.ts): PostgreSQL, shared by every node, when store.url is
  // set; else SQLite in dataDir. Opened by start(); the parts built here reach it through
  // `lateStore`, and their message bodies through `spool`.
  const stores = createRelayStore(config, { clock, logger, writerEntry: deps.storeWriterEntry });
  const { store: lateStore, spool, nodeName } = stores;
  const newId = createIdGenerator(clock, random);
  // Live settings read `current` (reload swaps it); settings only a restart changes read `config`.
  let current = config;

  // Operations (issue 7): disk guard, metrics and health; the HTTP endpoint starts with the listeners.
  const disk = createDiskGuard({ path: config.dataDir, thresholds: config.disk, clock, logger });
  const metrics = createMetrics({
    clock,
    version: VERSION,
    queueDepth: () => lateStore.stats.queueDepth(),
    oldestQueuedAt: async () => (await lateStore.stats.oldestQueued())?.createdAt ?? null,
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
    store: lateStore,
    clock,
    disk,
    // The SQLite file's integrity; PostgreSQL checks its own pages.
    ...(stores.sqliteFile ? { integrity: createIntegrityProbe({ file: stores.sqliteFile, clock }).check } : {}),
    listening: () => (listening ? { ok: true, detail: 'bound' } : { ok: false, detail: stopped ? 'shutting down' : 'not started' }),
  });
  let http: HttpEndpoint | null = null;
  let bound: { smtp: string; smtps: string | null; http: string | null } | null = null;

  // DKIM keys and signer, the DMARC guard and the router: rebuilt by a reload, behind stable wrappers.
  // Both cores (issue 13): DKIM body hashes and signatures on worker threads (sign.threads; 0: here).
  const signThreads = config.sign.threads === 'auto' ? autoSignThreads() : config.sign.threads;
  const signPool = signThreads > 0 ? createSignPool({ threads: signThreads, logger, ...(deps.signWorkerUrl ? { workerUrl: deps.signWorkerUrl } : {}) }) : null;
  const live = createReloadParts(config, { dkimKeys: lateStore.dkimKeys, resolver, clock, random, logger, maxHeaderBytes: config.smtp.maxHeaderBytes, signOffload: signPool });
  // One-click unsubscribe (issue 16): per-recipient List-Unsubscribe with an HMAC token, and the endpoint.
  const { oneClick, mailto: unsubscribeMailto } = oneClickOf(config);
  // The rows the intake just committed, for their first delivery: no store read of them on this thread.
  const acceptedHeads = createAcceptedHeads({ clock });
  const preparer = createMessagePreparer({
    messages: acceptedHeads.messages(lateStore.messages),
    spool,
    signer: live.signer,
    clock,
    logger,
    unsubscribeHeaders: oneClick ? (m, recipient) => oneClick.headers({ queueId: m.id, user: m.username, recipient }) : undefined,
  });
  const checks: MessageCheck[] = [createSenderDomainCheck(), live.dmarcCheck];
  // Outbound TLS (issue 15): DANE, MTA-STS (policy cache in the store), TLS levels; each session's outcome counted in metrics.
  const tlsPolicy = createOutboundTlsPolicy(
    { ...config.outboundTls, dnssec: config.dns.dnssec, allowPrivateMx: config.delivery.allowPrivateMx },
    { resolver, cache: lateStore.mtaSts, clock, logger },
  );
  // TLS-RPT (issue 15): every MX session's TLS result is counted in memory and stored in batches.
  const tlsReportSink = createTlsReportSink({ store: lateStore.tlsReports, clock, logger, flushIntervalMs: config.tlsRpt.flushIntervalMs });
  const tlsResults: TlsResultSink = {
    record: (r) => {
      metrics.tlsSession(r.policyApplied, r.result);
      tlsReportSink.record(r);
    },
  };
  // Both cores (issue 13): the outbound SMTP sessions on a delivery thread (delivery.thread).
  // A thread that dies is replaced; its sessions' recipients are deferred; each failure is counted.
  const sessionThread = config.delivery.thread
    ? createSessionThread({ logger, stallMs: config.delivery.threadStallMs, onFailure: (reason) => metrics.deliveryThreadFailed(reason), workerUrl: deps.sessionWorkerUrl, onStart: deps.onDeliveryThread })
    : null;
  const deliverer = createDeliverer({
    ...(sessionThread ? { connect: sessionThread.connect } : {}),
    router: live.router,
    hostname: config.hostname,
    timeouts: config.delivery,
    clock,
    logger,
    tlsPolicy,
    tlsResults,
    cleartextFallback: config.outboundTls.cleartextFallback,
  });
  // Bounces (issue 5): suppression of bad addresses, sender-problem counts, DSNs to the sender.
  // The RCPT-time read is the store's synchronous lookup (threaded SQLite: its read-only connection on this thread).
  const bounceSuppressions = createSuppressionList({ store: lateStore.suppressions, lookup: lateStore.suppressionLookup, clock, logger });
  const consequences = createConsequences({ logger, now: () => clock.now() });
  const dsn = config.dsn.enabled
    ? createDsnNotifier({
        store: lateStore,
        hostname: config.hostname,
        clock,
        random,
        newId,
        logger,
        config: config.dsn,
        maxAgeHours: config.delivery.maxAgeHours,
        onQueued: () => scheduler.poke(),
        readFull: (m) => spool.readFull(m, config.dsn.returnFullMaxBytes),
      })
    : null;
  // Asynchronous bounces (issue 5): VERP return paths, and the bounce-domain listener that reads what comes back.
  const verp = verpOf(config);
  let bounceListener: BounceListener | null = null;
  // Events (issue 5): every event in the log goes out as signed JSON batches to each URL (on
  // PostgreSQL from the one node that leads the cluster: stores.webhookCursors).
  const webhooks =
    config.webhooks.urls.length > 0 && config.webhooks.secret
      ? createWebhookSender({
          config: { ...config.webhooks, secret: config.webhooks.secret },
          store: { webhooks: stores.webhookCursors, events: lateStore.events, messages: lateStore.messages },
          clock,
          logger,
          owner: nodeName,
          // In a cluster the receiver can tell which node sent a batch (one at a time, by lock).
          userAgent: stores.engine === 'postgres' ? `Ferry/${VERSION} (node ${nodeName})` : `Ferry/${VERSION}`,
        })
      : null;
  // Per-destination limits (src/throttle): the scheduler's gate. Limits changed by the CLI are
  // picked up within limits.reloadIntervalMs; mail held back under the old ones is due again.
  const throttle = createThrottle({
    limits: lateStore.limits,
    resolver,
    clock,
    logger,
    defaults: { connections: config.limits.defaultConnections, perConnection: config.delivery.messagesPerConnection },
    params: config.limits,
    // A cluster's budgets are the cluster's: each send is granted by PostgreSQL (in small batches).
    shared: stores.clusterBudgets,
    // And its connection limits: each connection opens on a slot taken from PostgreSQL.
    connections: stores.clusterConnections ? { store: stores.clusterConnections, owner: nodeName, poke: () => scheduler.poke() } : null,
    onLimitsChanged: heldMailDueOnLimitsChange({ recipients: lateStore.recipients, clock, logger, poke: () => scheduler.poke() }),
  });
  metrics.setThrottledDestinationsProvider(() => throttle.heldBack());
  // Adaptive slow-down: the classifier's rate_limited verdict halves the destination's rate.
  const slowDown = slowDownListener(throttle, isRateLimit);
  const quotas = createQuotas({ quota: lateStore.quota, clock, logger, persistIntervalMs: config.limits.persistIntervalMs });
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
  // outcome/fate: the one writer of a recipient's fate, whatever its origin; one hook after each commit.
  const fate = createFate({
    // On the writer thread: one transaction per group of fates, its fsync off this event loop.
    fates: lateStore.fates,
    classifier: createClassifier(),
    // Read at each decision, so a reload changes the schedule from the next attempt on.
    retry: currentRetryPolicy(() => current),
    clock,
    random,
    logger,
    mailboxFullSince: (id) => lateStore.attempts.streakSince(id, 'mailbox_full'),
    dsn: config.dsn.enabled ? config.dsn : null,
    afterCommit: createAfterCommit({ metrics, consequences, dsn, webhooks, slowDown, retention }),
  });
  const outcome = createOutcomeApplier({ fate });
  // Fates without an attempt: a lost body, and the maximum age passing.
  const expiry = createExpiry({
    fate,
    recipients: lateStore.recipients,
    messages: lateStore.messages,
    clock,
    logger,
    maxAgeHours: () => current.delivery.maxAgeHours,
    onFullBatch: () => scheduler.poke(),
  });
  const scheduler = createScheduler({
    // Claims and releases on the writer thread: the claim transaction no longer runs on this loop.
    store: lateStore,
    spool,
    deliverer,
    outcome,
    clock,
    logger,
    owner: nodeName,
    concurrency: config.delivery.concurrency,
    idleConnectionMs: config.delivery.idleConnectionMs,
    ...(config.delivery.yieldToIntake ? {} : { intakeFirst: false as const }),
    leaseMs: stores.leaseMs,
    gate: throttle,
    signing: preparer,
    envelopeSender: verp ? (m, rows) => verp.envelopeSender(m, rows) : undefined,
    transactionPerRecipient: verp !== null,
    expireLostBody: expiry.lostBody,
    expireOverdue: expiry.overdue,
  });

  const tlsReporter = config.tlsRpt.enabled
    ? createTlsReporter({
        store: lateStore,
        repo: lateStore.tlsReports,
        resolver,
        clock,
        logger,
        newId,
        userAgent: `Ferry/${VERSION}`,
        ...(deps.tlsRptHttpsCa ? { httpsCa: deps.tlsRptHttpsCa } : {}),
        beforeReport: () => tlsReportSink.flush(),
        onQueued: () => scheduler.poke(),
        settings: tlsReporterSettings(config),
      })
    : null;

  const intake = createIntake({
    spool,
    // Recipients dropped at intake: their fates are written in the intake transaction.
    store: withIntakeDropFates({
      queue: acceptedHeads.queue(lateStore.queue),
      fate,
      suppressionOf: config.dsn.enabled && config.dsn.onDropped ? (address, user) => bounceSuppressions.find(address, user) : null,
    }),
    clock,
    newId,
    hostname: config.hostname,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    maxMessageSizeBytes: config.smtp.maxMessageSizeBytes,
    checks,
    logger,
    raisePriority: config.smtp.threadNice < 0 ? () => raiseThisThreadPriority(config.smtp.threadNice) : null,
    onAccepted: (ids) => {
      scheduler.accepted(ids.length);
      void dsn?.flush();
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
    ? createUnsubscriber({ store: lateStore, oneClick, clock, logger, onRecorded: () => webhooks?.poke() })
    : null;
  let unsubscribeHttp: HttpEndpoint | null = null;

  // Routes on the HTTP endpoint beside /metrics and health: the web console (issue 17); more may be pushed here.
  const httpPlugins: HttpPlugin[] = [];
  if (config.http.console) {
    httpPlugins.push(
      createConsole({
        store: lateStore, clock, logger,
        fates: { plan: fate.plan, committed: fate.committed },
        maxAgeHours: () => current.delivery.maxAgeHours,
        heldBack: () => throttle.heldBack(),
        onQueueChanged: () => scheduler.poke(),
        onLimitsChanged: () => throttle.limitsChanged(),
      }),
    );
  }

  const reload = createReloader(
    config,
    {
      current: () => current,
      // Certificates and key files are read again even when their paths did not change (a renewed
      // certificate, a rotated key).
      prepare: (next) => ({
        tls: listener ? loadTlsMaterial({ ...next.smtp.tls, dataDir: config.dataDir, hostname: config.hostname }) : null,
        parts: live.build(next),
      }),
      apply: async (next, { tls, parts }) => {
        current = next;
        live.swap(parts);
        if (tls) listener?.updateTls(tls);
        logger.level = next.log.level;
        await throttle.reloadLimits();
        await disk.update(next.disk);
      },
    },
    { metrics, logger },
  );

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
    // SQLite only: the parts not on the Store interface yet (and tests) read the file directly.
    get db() {
      return stores.sqliteDb();
    },
    get queue() {
      return stores.sqliteQueue();
    },
    spool,
    logger,
    scheduler,
    retention,
    tlsReports: { sink: tlsReportSink, reporter: tlsReporter },
    async start() {
      await sessionThread?.ready();
      await stores.recover(expiry.lostBody);
      // Reports recorded before a crash but not yet queued.
      await dsn?.flush();
      const tls = loadTlsMaterial({ ...config.smtp.tls, dataDir: config.dataDir, hostname: config.hostname });
      await webhooks?.prepare();
      await disk.start();
      // Bound one after the other; when one cannot bind, those already running stop again.
      const bind = createStartRollback([() => disk.stop()]);
      // The HTTP endpoint binds first: if its port is taken, nothing else has started.
      let httpAddress: string | null = null;
      if (config.http.listen) {
        const endpoint = createHttpEndpoint({
          listen: config.http.listen,
          logger,
          metrics,
          readiness: () => readiness.check(),
          about: () => ({ version: VERSION, pid: process.pid, hostname: config.hostname, listeners: bound, dataDir: config.dataDir }),
          plugins: httpPlugins,
          trustProxy: config.http.trustProxy,
        });
        http = endpoint;
        httpAddress = await bind(() => endpoint.start(), () => endpoint.stop());
      }
      const smtp = createSmtpListener({
        config: config.smtp,
        hostname: config.hostname,
        tls,
        intake,
        authenticator: createAuthenticator(lateStore.users, deps.verifyPassword),
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
      listener = smtp;
      const smtpAddresses = await bind(() => smtp.start(), () => smtp.stop());
      let unsubscribeAddress: string | null = null;
      if (unsubscriber && config.unsubscribe.listen) {
        const endpoint = createUnsubscribeEndpoint(config.unsubscribe.listen, unsubscriber);
        unsubscribeHttp = endpoint;
        unsubscribeAddress = await bind(() => endpoint.start(), () => endpoint.stop());
      }
      let bounceAddress: string | null = null;
      if (verp && config.bounceListener.listen) {
        const bounces = createBounceListener({
          options: { ...config.bounceListener, listen: config.bounceListener.listen, hostname: config.hostname, tls },
          isBounceDomain: (domain) => domain === verp.domain,
          processor: createBounceProcessor({ store: lateStore, verp, fate, clock, logger }),
          logger,
          unsubscribe: unsubscriber && unsubscribeMailto ? { address: unsubscribeMailto, handle: (raw) => unsubscriber.unsubscribeByMail(raw) } : undefined,
        });
        bounceListener = bounces;
        bounceAddress = await bind(() => bounces.start(), () => bounces.stop());
      }
      const addresses = { ...smtpAddresses, http: httpAddress, bounce: bounceAddress, unsubscribe: unsubscribeAddress };
      bound = addresses;
      listening = true;
      await throttle.start();
      await quotas.start();
      scheduler.start();
      await webhooks?.start();
      retention.start();
      tlsReportSink.start();
      tlsReporter?.start();
      const hostnameProblem = hostnameWarning(config.hostname);
      if (hostnameProblem) logger.warn({ hostname: config.hostname, key: 'hostname' }, hostnameProblem);
      logger.info({ ...addresses, dataDir: config.dataDir, hostname: config.hostname, store: stores.engine, ...(stores.engine === 'postgres' ? { node: nodeName } : {}), selfSignedTls: tls.selfSigned }, 'ferry started');
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
      await stores.settle();
      await scheduler.stop(config.smtp.shutdownGraceMs);
      // How often a fresh message's first delivery found its row kept (workers/accepted-heads.ts).
      logger.info({ keptRows: acceptedHeads.stats() }, 'first deliveries: rows kept at the commit');
      // The reports the last deliveries made due, a TLS report mail being queued, the webhook
      // cursors, retention's last pass, the TLS sessions' counts, the budgets and the quota usage
      // all go through the store: they end before it closes.
      await dsn?.flush();
      await tlsReporter?.stop();
      await tlsReportSink.stop();
      await throttle.stop();
      await quotas.stop();
      await webhooks?.stop();
      await retention.stop();
      await stores.close();
      await unsubscribeHttp?.stop();
      await http?.stop();
      await signPool?.close();
      await sessionThread?.close();
      stores.db?.close();
      logger.info('ferry stopped');
      logger.flush?.();
    },
  };
  // The store opens first (on SQLite its writer thread), and closes again if the start fails.
  const startParts = ferry.start.bind(ferry);
  ferry.start = () =>
    stores.open(
      {
        onWriterFailure: (err) => {
          // Nothing more can be made durable: no client may get a 250 now. Stop accepting (421)
          // and say so loudly; messages already answered 250 are on disk.
          logger.error({ err: err.message }, `database writer thread failed: the relay stops accepting mail (421) — restart ferry: ${err.message}`);
          listening = false;
          void listener?.stop();
        },
      },
      startParts,
    );
  return ferry;
}
