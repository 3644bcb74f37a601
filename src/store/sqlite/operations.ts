import { createFateWrites } from '../fate-writes.js';
import { dropPlansOf, withDropIds } from '../fate-rows.js';
import type { FateResult } from '../../core/fate.js';
import type { FatesStore, Store, StoreGroup, TlsReportQueuedRow } from '../../core/store.js';
import type { AcceptedMessage, EventInput, NewSuppression } from '../../core/store-types.js';
import { FerryError } from '../../core/errors.js';
import type { Db } from '../db.js';
import { createAdminsRepo } from '../admins-repo.js';
import { createAttemptsRepo } from '../attempts-repo.js';
import { createDkimKeysRepo } from '../dkim-keys-repo.js';
import { createDsnOutboxRepo } from '../dsn-outbox-repo.js';
import { createEventsRepo } from '../events-repo.js';
import { createLimitsRepo } from '../limits-repo.js';
import { createMessagesRepo } from '../messages-repo.js';
import { createMtaStsRepo } from '../mta-sts-repo.js';
import { createQueueAdminRepo } from '../queue-admin-repo.js';
import { createQueueStore } from '../queue-store.js';
import { createQuotaRepo } from '../quota-repo.js';
import { createRecipientsRepo } from '../recipients-repo.js';
import { createRetentionRepo } from '../retention-repo.js';
import { createStatsRepo } from '../stats-repo.js';
import { createTlsReportRepo } from '../tls-report-repo.js';
import { createSuppressionsRepo, suppressionFromRaw, type RawSuppression } from '../suppressions-repo.js';
import { createUsersRepo } from '../users-repo.js';
import { createWebhooksRepo } from '../webhooks-repo.js';
import { createConsoleQueries } from '../console-queries.js';
import { createSqliteAudited } from './audited.js';
import { atomic } from '../atomic.js';

/** A Store group with every operation synchronous: what one SQLite connection does in place. */
export type SyncGroup<G> = {
  [K in keyof G]: G[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

export type SqliteOperations = { [G in Exclude<StoreGroup, 'fates'>]: SyncGroup<Store[G]> } & { fates: SyncGroup<FatesStore> };

/**
 * Every Store operation over one SQLite connection, synchronous: each call is one transaction
 * (better-sqlite3's db.transaction nests as a SAVEPOINT when the caller already opened one,
 * which is how the writer thread groups many calls into one commit). The in-process engine
 * (engine.ts) and the writer thread (writer-thread.ts) both execute these.
 */
export function createSqliteOperations(db: Db): SqliteOperations {
  const queue = createQueueStore(db);
  const fateWrites = createFateWrites(db);
  const dsnOutbox = createDsnOutboxRepo<unknown>(db);
  const retention = createRetentionRepo(db);
  const suppressions = createSuppressionsRepo(db);
  const events = createEventsRepo(db);
  const consoleReads = createConsoleQueries(db);
  const limits = createLimitsRepo(db);
  const queueAdmin = createQueueAdminRepo(db);
  // Takes the write lock (a SAVEPOINT inside the writer's open transaction) and writes nothing.
  const probeWrite = db.transaction(() => undefined);

  // Per message on the relay: inside the writer's transaction without a savepoint of its own (atomic.ts).
  const accept = atomic(db, (batch: AcceptedMessage[]): FateResult[] => {
    const drops = queue.accept(batch);
    const plans = withDropIds(dropPlansOf(batch), drops.map((d) => d.recipient.id));
    return fateWrites.recordFatesNow(plans);
  });

  const clearBodies = atomic(db, (ids: readonly string[], now: number, finishedBefore: number, dryRun: boolean) => {
    const cleared: { id: string; spoolFile: string | null; bytes: number }[] = [];
    for (const id of ids) {
      const b = retention.bodyOf(id);
      if (!b || b.pending || b.finishedAt > finishedBefore) continue;
      if (!dryRun && !retention.clearBody(id, now)) continue;
      cleared.push({ id, spoolFile: b.spoolFile, bytes: b.bytes });
    }
    return cleared;
  });

  const pruneRecords = db.transaction((ids: readonly string[], cutoff: number, sentUpTo: number, dryRun: boolean) => {
    const pruned: { id: string; spoolFile: string | null; recipients: number; attempts: number; events: number }[] = [];
    const heldBack = { dsn: 0, webhook: 0 };
    for (const id of ids) {
      const why = retention.keepReason(id, cutoff, sentUpTo);
      if (why === 'dsn' || why === 'webhook') heldBack[why]++;
      if (why) continue;
      const spoolFile = spoolFileOf.get(id) as string | null | undefined;
      const counts = dryRun ? retention.countRecord(id) : retention.deleteRecord(id);
      pruned.push({ id, spoolFile: spoolFile ?? null, ...counts });
    }
    return { pruned, heldBack };
  });
  const deleteRecord = db.transaction((id: string) => retention.deleteRecord(id));
  const upsertWithEvent = db.transaction((entry: NewSuppression, event: EventInput) => {
    const result = suppressions.upsert(entry);
    if (result.created) events.append(event);
    return result;
  });
  const tlsReports = createTlsReportRepo(db);
  const acceptTlsReport = db.transaction((mail: AcceptedMessage, sent: readonly TlsReportQueuedRow[]): void => {
    accept([mail]);
    for (const r of sent) tlsReports.markSent(r);
  });
  const queueReport = db.transaction((id: number, report: AcceptedMessage | null): boolean => {
    if (!dsnOutbox.remove(id)) return false;
    if (report) accept([report]);
    return true;
  });

  // Staged imports live on this connection (a TEMP table is private to it): one at a time.
  let importer: { handle: string; run: ReturnType<typeof suppressions.createImporter> } | null = null;
  let importSeq = 0;
  const importOf = (handle: string) => {
    if (!importer || importer.handle !== handle) throw new FerryError('FERRY_ERR_STORE', `no suppression import ${handle} in progress`);
    return importer.run;
  };
  const pageStmt = db.prepare('SELECT * FROM suppressions WHERE id > ? ORDER BY id LIMIT ?');
  const spoolFileOf = db.prepare('SELECT spool_file FROM messages WHERE id = ?').pluck();

  return {
    admins: createAdminsRepo(db),
    attempts: createAttemptsRepo(db),
    dkimKeys: createDkimKeysRepo(db),
    dsnOutbox: {
      add: (messageId, recipients, at) => dsnOutbox.add(messageId, recipients, at),
      list: (afterId, limit) => dsnOutbox.list(afterId, limit),
      remove: (id) => void dsnOutbox.remove(id),
      count: () => dsnOutbox.count(),
      queueReport: (id, report) => queueReport(id, report),
    },
    events: { ...events, settledAfter: (afterId, limit) => events.list({ afterId, limit }) },
    limits: { ...limits, slowed: () => consoleReads.slowed() },
    messages: queue.messages,
    mtaSts: createMtaStsRepo(db),
    queueAdmin: { ...queueAdmin, destinations: (now, limit) => consoleReads.queue(now, limit) },
    quota: createQuotaRepo(db),
    recipients: {
      ...queue.recipients,
      search(by, limit) {
        if ('recipient' in by) return consoleReads.byRecipient(by.recipient, limit);
        if ('sender' in by) return consoleReads.bySender(by.sender, limit);
        if ('message' in by) return consoleReads.byMessage(by.message);
        return consoleReads.pending(by.pendingDomain, limit);
      },
    },
    retention: {
      bodies: (after, limit) => retention.bodies(after, limit),
      bodyOf: (id) => retention.bodyOf(id),
      clearBody: (id, at) => retention.clearBody(id, at),
      oldMessages: (cutoff, after, limit) => retention.oldMessages(cutoff, after, limit),
      keepReason: (id, cutoff, sentUpTo) => retention.keepReason(id, cutoff, sentUpTo),
      countRecord: (id) => retention.countRecord(id),
      deleteRecord: (id) => deleteRecord(id),
      webhookSentUpTo: (urls) => retention.webhookSentUpTo(urls),
      clearBodies: (ids, now, finishedBefore, dryRun) => clearBodies(ids, now, finishedBefore, dryRun),
      pruneRecords: (ids, cutoff, sentUpTo, dryRun) => pruneRecords(ids, cutoff, sentUpTo, dryRun),
    },
    stats: {
      ...createStatsRepo(db),
      probeWrite: () => probeWrite.immediate(),
      hourly: (domain, fromHour, toHour) => consoleReads.hourly(domain, fromHour, toHour),
      topDomains: (fromHour, limit) => consoleReads.topDomains(fromHour, limit),
      hourlyCategories: (fromHour, limit) => consoleReads.topCategories(fromHour, limit),
    },
    suppressions: {
      lookup: (address, domain, user, now) => suppressions.lookup(address, domain, user, now),
      get: (address, scope) => suppressions.get(address, scope),
      forAddress: (address) => suppressions.forAddress(address),
      upsert: (entry) => suppressions.upsert(entry),
      upsertWithEvent: (entry, event) => upsertWithEvent(entry, event),
      remove: (address, scope) => suppressions.remove(address, scope),
      hit: (id, at) => suppressions.hit(id, at),
      hitMany: (hits) => suppressions.hitMany(hits),
      list: (filter, limit) => suppressions.list(filter, limit),
      count: (filter) => suppressions.count(filter),
      clear: (filter) => suppressions.clear(filter),
      page: (afterId, limit) => (pageStmt.all(afterId, limit) as RawSuppression[]).map(suppressionFromRaw),
      importBegin() {
        if (importer) importer.run.abort();
        importer = { handle: `import-${++importSeq}`, run: suppressions.createImporter() };
        return importer.handle;
      },
      importStage(handle, rows: NewSuppression[]) {
        importOf(handle).stage(rows);
      },
      importCommit(handle) {
        const run = importOf(handle);
        importer = null;
        return run.commit();
      },
      importAbort(handle) {
        if (importer?.handle !== handle) return;
        importer.run.abort();
        importer = null;
      },
      drops: (address, limit) => suppressions.drops(address, limit),
      byId: (id) => consoleReads.suppression(id) ?? undefined,
      browse: (q, cursor, limit) => consoleReads.suppressions(q, cursor, limit),
    },
    tlsReports: createTlsReportRepo(db),
    users: createUsersRepo(db),
    webhooks: createWebhooksRepo(db),
    queue: {
      accept: (batch) => accept(batch),
      acceptTlsReport: (mail, sent) => acceptTlsReport(mail, sent),
    },
    fates: {
      record: (plans) => fateWrites.recordFatesNow(plans),
    },
    audited: createSqliteAudited(db, {
      suppressions,
      events,
      limits,
      queueAdmin,
      suppressionById: (id) => consoleReads.suppression(id),
      recordFates: (plans) => fateWrites.recordFatesNow(plans),
    }),
  };
}
