import type { FatePlan, FateResult } from '../../core/fate.js';
import type { AuditActor, ImportAudit } from '../../core/store-audited.js';
import type { LimitFields, NewSuppression, QueueSelector, SuppressionFilter, SuppressionRow } from '../../core/store-types.js';
import type { Db } from '../db.js';
import { auditEvents } from '../audit-rows.js';
import type { EventsRepo } from '../events-repo.js';
import type { LimitsRepo } from '../limits-repo.js';
import type { QueueAdminRepo } from '../queue-admin-repo.js';
import type { SuppressionsRepo } from '../suppressions-repo.js';

/** The repositories of the connection the operations run on (operations.ts builds them once). */
export interface AuditedParts {
  suppressions: SuppressionsRepo;
  events: EventsRepo;
  limits: LimitsRepo;
  queueAdmin: QueueAdminRepo;
  suppressionById: (id: number) => SuppressionRow | null;
  recordFates: (plans: readonly FatePlan[]) => FateResult[];
}

/**
 * The `audited` group on one SQLite connection (core/store-audited.ts): each operation is one
 * transaction holding the change and its event (a SAVEPOINT inside the writer thread's grouped
 * commit), built from src/store/audit-rows.ts.
 */
export function createSqliteAudited(db: Db, p: AuditedParts) {
  const addSuppression = db.transaction((entry: NewSuppression, by: AuditActor) => {
    const result = p.suppressions.upsert(entry);
    p.events.append(auditEvents.addSuppression(by, result.row, result.created));
    return result;
  });
  const removeSuppression = db.transaction((id: number, by: AuditActor): SuppressionRow | null => {
    const entry = p.suppressionById(id);
    if (!entry || !p.suppressions.remove(entry.address, entry.scope)) return null;
    p.events.append(auditEvents.removeSuppression(by, entry));
    return entry;
  });
  const clearSuppressions = db.transaction((filter: SuppressionFilter, by: AuditActor): number => {
    const n = p.suppressions.clear(filter);
    p.events.append(auditEvents.clearSuppressions(by, filter, n));
    return n;
  });
  const importSuppressions = db.transaction((rows: readonly NewSuppression[], audit: ImportAudit | null): number => {
    const n = p.suppressions.upsertMany(rows);
    if (audit) p.events.append(auditEvents.importSuppressions(audit));
    return n;
  });
  const retryQueue = db.transaction((sel: QueueSelector, by: AuditActor): number => {
    const n = p.queueAdmin.retry(sel, by.at);
    p.events.append(auditEvents.retryQueue(by, sel, n));
    return n;
  });
  const purgeQueue = db.transaction((plans: readonly FatePlan[], sel: QueueSelector, by: AuditActor): FateResult[] => {
    const results = p.recordFates(plans);
    p.events.append(auditEvents.purgeQueue(by, sel, results.filter((r) => r.applied).length));
    return results;
  });
  const setLimit = db.transaction((target: string, fields: LimitFields, by: AuditActor): void => {
    p.limits.set(target, fields, by.at);
    p.events.append(auditEvents.setLimit(by, target, fields));
  });
  const removeLimit = db.transaction((target: string, by: AuditActor): boolean => {
    const removed = p.limits.remove(target);
    if (removed) p.events.append(auditEvents.removeLimit(by, target));
    return removed;
  });
  // Checked against the Store interface (made synchronous) where operations.ts returns it.
  return { addSuppression, removeSuppression, clearSuppressions, importSuppressions, retryQueue, purgeQueue, setLimit, removeLimit };
}
