import type { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { FerryError } from '../../core/errors.js';
import type { FatePlan, FateResult } from '../../core/fate.js';
import type { Store } from '../../core/store.js';
import type { AuditActor } from '../../core/store-audited.js';
import type { AdminRole, LimitFields, PurgeResult, QueueSelector, SuppressionFilter, SuppressionRow } from '../../core/store-types.js';
import type { FateInput } from '../../outcome/fate.js';
import { purgeInputs, purgeSummary } from '../../outcome/purge.js';
import { importSuppressions } from '../../suppress/csv.js';
import { isSuppressionCategory, suppressionKey } from '../../suppress/normalize.js';

/** Who did it: every change the console makes is an event naming this account. */
export interface Actor {
  name: string;
  role: AdminRole;
}

export interface ConsoleActionsDeps {
  /** Each change and the event naming its admin are one store operation (Store.audited); a purge reads what is pending first. */
  store: { audited: Store['audited']; queueAdmin: Pick<Store['queueAdmin'], 'pending'> };
  clock: Clock;
  /**
   * outcome/fate: a purge is each recipient's fate (expired, event, a report to its sender), written
   * in the operation that records the admin's event; `committed` runs the after-commit hook.
   */
  fates: {
    plan(inputs: readonly FateInput[], now?: number): FatePlan[];
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
 * Every change the console makes. Each checks the actor's role, then makes its change and appends
 * an event naming the actor in ONE store operation (`ferry events list` shows who did what), then
 * nudges the running relay.
 */
export function createConsoleActions(deps: ConsoleActionsDeps) {
  const { clock } = deps;
  const { audited } = deps.store;

  function need(actor: Actor, what: Permission): void {
    if (!may(actor.role, what)) throw new FerryError('FERRY_ERR_USAGE', `${actor.name} (${actor.role}) may not do this: ${what} needs the admin role`);
  }

  const by = (actor: Actor): AuditActor => ({ name: actor.name, role: actor.role, via: 'console', at: clock.now() });

  return {
    async removeSuppression(actor: Actor, id: number): Promise<SuppressionRow> {
      need(actor, 'removeSuppression');
      const entry = await audited.removeSuppression(id, by(actor));
      if (!entry) throw new FerryError('FERRY_ERR_NOT_FOUND', 'that suppression entry no longer exists');
      return entry;
    },
    async addSuppression(actor: Actor, address: string, category: string, reason: string, expiresAt: number | null): Promise<{ entry: SuppressionRow; created: boolean }> {
      need(actor, 'addSuppression');
      const key = suppressionKey(address);
      if (!key) throw new FerryError('FERRY_ERR_USAGE', `not an email address or @domain: ${JSON.stringify(address)}`);
      if (!isSuppressionCategory(category)) throw new FerryError('FERRY_ERR_USAGE', `unknown suppression category ${JSON.stringify(category)}`);
      const who = by(actor);
      const { row, created } = await audited.addSuppression(
        { address: key.address, domain: key.domain, category, reason, source: category === 'complaint' ? 'complaint' : 'manual', scope: null, createdAt: who.at, expiresAt },
        who,
      );
      return { entry: row, created };
    },
    async clearSuppressions(actor: Actor, filter: SuppressionFilter): Promise<number> {
      need(actor, 'clearSuppressions');
      if (filter.domain === undefined && filter.category === undefined) throw new FerryError('FERRY_ERR_USAGE', 'say what to clear: a domain or a category');
      return audited.clearSuppressions(filter, by(actor));
    },
    /**
     * Streams a CSV file in, in batches (each committed; the relay is never held up); the last
     * batch carries the event naming the admin, with the totals. An import that stops early keeps
     * what it imported, says so in that event, and fails naming the line.
     */
    async importSuppressions(actor: Actor, input: Readable): Promise<ImportReport> {
      need(actor, 'importSuppressions');
      const problems: ImportReport['problems'] = [];
      const result = await importSuppressions({
        apply: (rows, totals) => audited.importSuppressions(rows, totals && { by: by(actor), ...totals }),
        input,
        clock,
        onBadRow: (line, problem) => {
          if (problems.length < MAX_PROBLEMS) problems.push({ line, problem });
        },
      });
      return { ...result, problems };
    },
    async retry(actor: Actor, sel: QueueSelector): Promise<number> {
      need(actor, 'retry');
      const n = await audited.retryQueue(sel, by(actor));
      deps.onQueueChanged?.();
      return n;
    },
    async purge(actor: Actor, sel: QueueSelector): Promise<PurgeResult> {
      need(actor, 'purge');
      const who = by(actor);
      // What is pending now; a recipient that ends otherwise meanwhile is left as it is (its plan no longer applies).
      const rows = await deps.store.queueAdmin.pending(sel);
      const plans = deps.fates.plan(purgeInputs(rows, `purged by admin ${actor.name} (console)`), who.at);
      const results = await audited.purgeQueue(plans, sel, who);
      deps.fates.committed(results);
      deps.onQueueChanged?.();
      return purgeSummary(rows, results, who.at);
    },
    async setLimit(actor: Actor, target: string, fields: LimitFields): Promise<void> {
      need(actor, 'editLimits');
      await audited.setLimit(target, fields, by(actor));
      deps.onLimitsChanged?.();
    },
    async removeLimit(actor: Actor, target: string): Promise<boolean> {
      need(actor, 'editLimits');
      const removed = await audited.removeLimit(target, by(actor));
      if (removed) deps.onLimitsChanged?.();
      return removed;
    },
  };
}

export type ConsoleActions = ReturnType<typeof createConsoleActions>;
