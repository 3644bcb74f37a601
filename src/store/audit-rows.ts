import type { AuditActor, AuditedStore, ImportAudit } from '../core/store-audited.js';
import type { EventInput, LimitFields, QueueSelector, SuppressionFilter, SuppressionRow } from '../core/store-types.js';

/**
 * The events of the `audited` operations (core/store-audited.ts): what each engine appends in
 * the transaction of the change, built here once so the engines cannot word them differently.
 * Each names the admin, the role and where the change was made; `reply` is the line `ferry events
 * list` and the webhooks show.
 */
function audit(by: AuditActor, type: string, recipient: string | null, category: string | null, reply: string, detail: Record<string, unknown> = {}, messageId = ''): EventInput {
  return {
    at: by.at,
    messageId,
    recipientId: null,
    recipient,
    type,
    status: null,
    category,
    detail: { reply, admin: by.name, role: by.role, via: by.via, ...detail },
  };
}

const selected = (sel: QueueSelector): string | null => (sel.domain ? `@${sel.domain}` : null);

function suppressionAddedEvent(by: AuditActor, row: SuppressionRow, created: boolean): EventInput {
  return audit(by, 'suppression_added', row.address, row.category, `${created ? 'added to' : 'updated on'} the suppression list by ${by.name}: ${row.reason}`, { expiresAt: row.expiresAt });
}

function suppressionRemovedEvent(by: AuditActor, row: SuppressionRow): EventInput {
  return audit(by, 'suppression_removed', row.address, row.category, `removed from the suppression list by ${by.name}`, {
    scope: row.scope,
    reason: row.reason,
    source: row.source,
    addedAt: new Date(row.createdAt).toISOString(),
  });
}

function suppressionsClearedEvent(by: AuditActor, filter: SuppressionFilter, removed: number): EventInput {
  const what = [filter.domain && `domain ${filter.domain}`, filter.category && `category ${filter.category}`].filter(Boolean).join(', ');
  return audit(by, 'suppressions_cleared', filter.domain ? `@${filter.domain}` : null, filter.category ?? null, `${removed} entries (${what}) removed from the suppression list by ${by.name}`, { removed });
}

function suppressionsImportedEvent(a: ImportAudit): EventInput {
  const stopped = a.stopped ? `; stopped early: ${a.stopped}` : '';
  return audit(a.by, 'suppressions_imported', null, null, `${a.imported} entries imported by ${a.by.name} (${a.skipped} rows skipped)${stopped}`, {
    imported: a.imported,
    skipped: a.skipped,
    ...(a.stopped ? { stopped: a.stopped } : {}),
  });
}

function queueRetriedEvent(by: AuditActor, sel: QueueSelector, due: number): EventInput {
  return audit(by, 'queue_retried', selected(sel), null, `${due} recipients made due now by ${by.name}`, { due }, sel.messageId ?? '');
}

function queuePurgedEvent(by: AuditActor, sel: QueueSelector, purged: number): EventInput {
  return audit(by, 'queue_purged', selected(sel), null, `${purged} recipients purged by ${by.name}`, { purged }, sel.messageId ?? '');
}

function limitChangedEvent(by: AuditActor, target: string, fields: LimitFields): EventInput {
  return audit(by, 'limit_changed', null, null, `limit ${target} set by ${by.name}`, { target, ...fields });
}

function limitRemovedEvent(by: AuditActor, target: string): EventInput {
  return audit(by, 'limit_removed', null, null, `limit ${target} removed by ${by.name}`, { target });
}

/**
 * The event of each audited operation, by the operation's name: what both engines' `audited`
 * groups (sqlite/audited.ts, postgres/audited.ts) append after the change, in its transaction.
 */
export const auditEvents = {
  addSuppression: suppressionAddedEvent,
  removeSuppression: suppressionRemovedEvent,
  clearSuppressions: suppressionsClearedEvent,
  importSuppressions: suppressionsImportedEvent,
  retryQueue: queueRetriedEvent,
  purgeQueue: queuePurgedEvent,
  setLimit: limitChangedEvent,
  removeLimit: limitRemovedEvent,
} satisfies Record<keyof AuditedStore, (...args: never[]) => EventInput>;
