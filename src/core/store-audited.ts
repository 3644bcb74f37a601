/**
 * The Store's `audited` group (core/store.ts): the changes an operator makes from the web console
 * (and the CLI's bulk suppression import), as named operations. Each is ONE transaction that
 * writes the change and, where an actor is named, the event that says who made it (`ferry events
 * list` shows who did what): never the change without its audit row, nor the row without the
 * change. The events' wording is built in one place, src/store/audit-rows.ts, for every engine.
 */
import type { FatePlan, FateResult } from './fate.js';
import type { AdminRole, LimitFields, NewSuppression, QueueSelector, SuppressionFilter, SuppressionRow } from './store-types.js';

/** Who made a change, through what, and when (the event's time; also the change's "now"). */
export interface AuditActor {
  name: string;
  role: AdminRole;
  /** Where the change was made: 'console' (the web console). */
  via: string;
  at: number;
}

/** The summary event of a suppression import, written with its last batch. */
export interface ImportAudit {
  by: AuditActor;
  /** Rows imported by the whole import (this call's included). */
  imported: number;
  /** Rows that could not be used (reported to the importer by line). */
  skipped: number;
  /** Set when the import stopped early (the rows before it stay imported): why. */
  stopped?: string;
}

export interface AuditedStore {
  /** Adds or updates the (address, scope) entry, with a `suppression_added` event. */
  addSuppression(entry: NewSuppression, by: AuditActor): Promise<{ row: SuppressionRow; created: boolean }>;
  /** Removes the entry with this id, with a `suppression_removed` event; null (nothing written) when there is none. */
  removeSuppression(id: number, by: AuditActor): Promise<SuppressionRow | null>;
  /** Deletes every entry matching the filter, with a `suppressions_cleared` event; returns how many. */
  clearSuppressions(filter: SuppressionFilter, by: AuditActor): Promise<number>;
  /**
   * One batch of a suppression import: upserts the rows in order (the last row for a key wins) in
   * ONE transaction and returns how many. With `audit` (an import's last batch, which may be
   * empty), also appends the `suppressions_imported` event naming the admin. A large file is
   * imported in many such calls, so the writer is never held for long; each batch is committed.
   */
  importSuppressions(rows: readonly NewSuppression[], audit: ImportAudit | null): Promise<number>;
  /** Makes the selected pending recipients (not in flight) due at `by.at`, with a `queue_retried` event; returns how many. */
  retryQueue(sel: QueueSelector, by: AuditActor): Promise<number>;
  /**
   * Records the purge fates (outcome/fate's plans, origin admin-purge, of the selected recipients)
   * and a `queue_purged` event counting those that applied, in ONE transaction. Returns the fate
   * results for outcome/fate's after-commit hook.
   */
  purgeQueue(plans: readonly FatePlan[], sel: QueueSelector, by: AuditActor): Promise<FateResult[]>;
  /** Creates or replaces a limit, with a `limit_changed` event. */
  setLimit(target: string, fields: LimitFields, by: AuditActor): Promise<void>;
  /** Removes a limit, with a `limit_removed` event; false (nothing written) when there was none. */
  removeLimit(target: string, by: AuditActor): Promise<boolean>;
}
