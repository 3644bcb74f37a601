import type { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { FerryError } from '../../core/errors.js';
import type { FatePlan, FateResult } from '../../core/fate.js';
import type { FateInput } from '../../outcome/fate.js';
import { purgeInputs, purgeSummary } from '../../outcome/purge.js';
import type { AdminRole } from '../../store/admins-repo.js';
import type { Db } from '../../store/db.js';
import type { EventsRepo } from '../../store/events-repo.js';
import type { LimitFields, LimitsRepo } from '../../store/limits-repo.js';
import type { PurgeResult, QueueAdminRepo, QueueSelector } from '../../store/queue-admin-repo.js';
import type { SuppressionFilter } from '../../store/suppressions-repo.js';
import { importSuppressions } from '../../suppress/csv.js';
import type { DbSuppressionList } from '../../suppress/suppression-list-db.js';
import { createConsoleQueries } from '../../store/console-queries.js';

/** Who did it: every change the console makes is an event naming this account. */
export interface Actor {
  name: string;
  role: AdminRole;
}

export interface ConsoleActionsDeps {
  db: Db;
  clock: Clock;
  suppressions: DbSuppressionList;
  events: EventsRepo;
  queueAdmin: QueueAdminRepo;
  limits: LimitsRepo;
  /**
   * outcome/fate: a purge is each recipient's fate (expired, event, a report to its sender), written
   * in the transaction that records the admin's event; `committed` runs the after-commit hook.
   */
  fates: {
    plan(inputs: readonly FateInput[], now?: number): FatePlan[];
    recordNow(plans: readonly FatePlan[]): FateResult[];
    committed(results: readonly FateResult[]): unknown;
  };
  /** Mail was made due or ended: the scheduler looks now. */
  onQueueChanged?: () => void;
  /** A limit changed: the throttle reloads now. */
  onLimitsChanged?: () => void;
}

/** What each role may do; support's set is a subset of admin's. */
export const PERMISSIONS = {
  view: ['support', 'admin'],
  removeSuppression: ['support', 'admin'],
  retry: ['support', 'admin'],
  addSuppression: ['admin'],
  importSuppressions: ['admin'],
  clearSuppressions: ['admin'],
  purge: ['admin'],
  editLimits: ['admin'],
} as const satisfies Record<string, readonly AdminRole[]>;

export type Permission = keyof typeof PERMISSIONS;

export function may(role: AdminRole, what: Permission): boolean {
  return (PERMISSIONS[what] as readonly AdminRole[]).includes(role);
}

export interface ImportReport {
  imported: number;
  skipped: number;
  /** the first 1,000 rows that could not be used: line number and why */
  problems: { line: number; problem: string }[];
}

const MAX_PROBLEMS = 1000;

/**
 * Every change the console makes. Each checks the actor's role, makes its change and appends an
 * event naming the actor in ONE transaction (`ferry events list` shows who did what), then
 * nudges the running relay.
 */
export function createConsoleActions(deps: ConsoleActionsDeps) {
  const { db, events, clock } = deps;
  // Each change and its event are one transaction on this connection (see the report: the
  // Store has no audited write yet).
  const queries = createConsoleQueries(db);

  function need(actor: Actor, what: Permission): void {
    if (!may(actor.role, what)) throw new FerryError('FERRY_ERR_USAGE', `${actor.name} (${actor.role}) may not do this: ${what} needs the admin role`);
  }

  function record(actor: Actor, type: string, recipient: string | null, category: string | null, reply: string, detail: Record<string, unknown> = {}, messageId = ''): void {
    events.append({ at: clock.now(), messageId, recipientId: null, recipient, type, status: null, category, detail: { reply, admin: actor.name, role: actor.role, via: 'console', ...detail } });
  }

  const removeTx = db.transaction((actor: Actor, id: number) => {
    const entry = queries.suppression(id);
    if (!entry) throw new FerryError('FERRY_ERR_NOT_FOUND', 'that suppression entry no longer exists');
    deps.suppressions.repo.remove(entry.address, entry.scope);
    record(actor, 'suppression_removed', entry.address, entry.category, `removed from the suppression list by ${actor.name}`, {
      scope: entry.scope, reason: entry.reason, source: entry.source, addedAt: new Date(entry.createdAt).toISOString(),
    });
    return entry;
  });

  const addTx = db.transaction((actor: Actor, address: string, category: string, reason: string, expiresAt: number | null) => {
    const { entry, created } = deps.suppressions.suppress(address, category, reason, category === 'complaint' ? 'complaint' : 'manual', { expiresAt });
    record(actor, 'suppression_added', entry.address, entry.category, `${created ? 'added to' : 'updated on'} the suppression list by ${actor.name}: ${reason}`, { expiresAt });
    return { entry, created };
  });

  const clearTx = db.transaction((actor: Actor, filter: SuppressionFilter) => {
    const n = deps.suppressions.repo.clear(filter);
    const what = [filter.domain && `domain ${filter.domain}`, filter.category && `category ${filter.category}`].filter(Boolean).join(', ');
    record(actor, 'suppressions_cleared', filter.domain ? `@${filter.domain}` : null, filter.category ?? null, `${n} entries (${what}) removed from the suppression list by ${actor.name}`, { removed: n });
    return n;
  });

  const purgeTx = db.transaction((actor: Actor, sel: QueueSelector, reason: string): { res: PurgeResult; results: FateResult[] } => {
    const now = clock.now();
    const rows = deps.queueAdmin.pending(sel);
    const results = deps.fates.recordNow(deps.fates.plan(purgeInputs(rows, reason), now));
    const res = purgeSummary(rows, results, now);
    record(actor, 'queue_purged', sel.domain ? `@${sel.domain}` : null, null, `${res.purged} recipients purged by ${actor.name}`, { purged: res.purged }, sel.messageId ?? '');
    return { res, results };
  });

  const retryTx = db.transaction((actor: Actor, sel: QueueSelector): number => {
    const n = deps.queueAdmin.retry(sel, clock.now());
    record(actor, 'queue_retried', sel.domain ? `@${sel.domain}` : null, null, `${n} recipients made due now by ${actor.name}`, { due: n }, sel.messageId ?? '');
    return n;
  });

  const setLimitTx = db.transaction((actor: Actor, target: string, fields: LimitFields) => {
    deps.limits.set(target, fields, clock.now());
    record(actor, 'limit_changed', null, null, `limit ${target} set by ${actor.name}`, { target, ...fields });
  });

  const removeLimitTx = db.transaction((actor: Actor, target: string): boolean => {
    const removed = deps.limits.remove(target);
    if (removed) record(actor, 'limit_removed', null, null, `limit ${target} removed by ${actor.name}`, { target });
    return removed;
  });

  return {
    removeSuppression(actor: Actor, id: number) {
      need(actor, 'removeSuppression');
      return removeTx(actor, id);
    },
    addSuppression(actor: Actor, address: string, category: string, reason: string, expiresAt: number | null) {
      need(actor, 'addSuppression');
      return addTx(actor, address, category, reason, expiresAt);
    },
    clearSuppressions(actor: Actor, filter: SuppressionFilter): number {
      need(actor, 'clearSuppressions');
      if (filter.domain === undefined && filter.category === undefined) throw new FerryError('FERRY_ERR_USAGE', 'say what to clear: a domain or a category');
      return clearTx(actor, filter);
    },
    /** Streams a CSV file in; nothing is applied unless the whole file was read (see importSuppressions). */
    async importSuppressions(actor: Actor, input: Readable): Promise<ImportReport> {
      need(actor, 'importSuppressions');
      const problems: ImportReport['problems'] = [];
      const result = await importSuppressions({
        repo: deps.suppressions.repo,
        input,
        clock,
        onBadRow: (line, problem) => {
          if (problems.length < MAX_PROBLEMS) problems.push({ line, problem });
        },
      });
      record(actor, 'suppressions_imported', null, null, `${result.imported} entries imported by ${actor.name} (${result.skipped} rows skipped)`, { ...result });
      return { ...result, problems };
    },
    retry(actor: Actor, sel: QueueSelector): number {
      need(actor, 'retry');
      const n = retryTx(actor, sel);
      deps.onQueueChanged?.();
      return n;
    },
    purge(actor: Actor, sel: QueueSelector): PurgeResult {
      need(actor, 'purge');
      const { res, results } = purgeTx(actor, sel, `purged by admin ${actor.name} (console)`);
      deps.fates.committed(results);
      deps.onQueueChanged?.();
      return res;
    },
    setLimit(actor: Actor, target: string, fields: LimitFields): void {
      need(actor, 'editLimits');
      setLimitTx(actor, target, fields);
      deps.onLimitsChanged?.();
    },
    removeLimit(actor: Actor, target: string): boolean {
      need(actor, 'editLimits');
      const removed = removeLimitTx(actor, target);
      if (removed) deps.onLimitsChanged?.();
      return removed;
    },
  };
}

export type ConsoleActions = ReturnType<typeof createConsoleActions>;
