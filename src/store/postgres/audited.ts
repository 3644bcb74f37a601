import type { AuditedStore } from '../../core/store-audited.js';
import { auditEvents } from '../audit-rows.js';
import { appendEvent } from './events.js';
import { recordFatesOn } from './fates.js';
import { removeLimitOn, setLimitOn } from './limits.js';
import { inTransaction, type PgPool } from './pool.js';
import { createPgQueueAdmin } from './queue-admin.js';
import { clearSuppressionsOn, removeSuppressionById, upsertSuppression, upsertSuppressionsOn } from './suppressions.js';

/**
 * The `audited` group (core/store-audited.ts) on PostgreSQL: each operation one transaction
 * holding the change and the event naming the admin (src/store/audit-rows.ts); suppression
 * changes are announced to every node's lookup cache by the same transaction.
 */
export function createPgAudited(pool: PgPool): AuditedStore {
  return {
    addSuppression: (entry, by) =>
      inTransaction(pool, async (c) => {
        const result = await upsertSuppression(c, entry);
        await appendEvent(c, auditEvents.addSuppression(by, result.row, result.created));
        return result;
      }),
    removeSuppression: (id, by) =>
      inTransaction(pool, async (c) => {
        const entry = await removeSuppressionById(c, id);
        if (!entry) return null;
        await appendEvent(c, auditEvents.removeSuppression(by, entry));
        return entry;
      }),
    clearSuppressions: (filter, by) =>
      inTransaction(pool, async (c) => {
        const n = await clearSuppressionsOn(c, filter);
        await appendEvent(c, auditEvents.clearSuppressions(by, filter, n));
        return n;
      }),
    importSuppressions: (rows, audit) =>
      inTransaction(pool, async (c) => {
        const n = await upsertSuppressionsOn(c, rows);
        if (audit) await appendEvent(c, auditEvents.importSuppressions(audit));
        return n;
      }),
    retryQueue: (sel, by) =>
      inTransaction(pool, async (c) => {
        const n = await createPgQueueAdmin(c).retry(sel, by.at);
        await appendEvent(c, auditEvents.retryQueue(by, sel, n));
        return n;
      }),
    purgeQueue: (plans, sel, by) =>
      inTransaction(pool, async (c) => {
        const results = await recordFatesOn(c, plans);
        await appendEvent(c, auditEvents.purgeQueue(by, sel, results.filter((r) => r.applied).length));
        return results;
      }),
    setLimit: (target, fields, by) =>
      inTransaction(pool, async (c) => {
        await setLimitOn(c, target, fields, by.at);
        await appendEvent(c, auditEvents.setLimit(by, target, fields));
      }),
    removeLimit: (target, by) =>
      inTransaction(pool, async (c) => {
        const removed = await removeLimitOn(c, target);
        if (removed) await appendEvent(c, auditEvents.removeLimit(by, target));
        return removed;
      }),
  };
}
