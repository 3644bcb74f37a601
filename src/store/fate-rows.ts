import type { FatePlan, FateResult } from '../core/fate.js';
import { FerryError } from '../core/errors.js';
import type { AcceptedMessage, AttemptRow, EventInput, NewSuppression, StatusChange } from '../core/store-types.js';
import type { RecipientStatus } from '../core/types.js';

/**
 * How a store engine reads a FatePlan (outcome/fate): the legality check and the rows the plan
 * writes, engine-neutral. Each engine (src/store/fate-writes.ts for SQLite, postgres/fates.ts)
 * only turns these rows into its SQL, in this order: status, complaint, attempt, event,
 * suppression, lost body, DSN line (a delay line only if the recipient's first delay report).
 */
export interface FateRows {
  status: StatusChange | null;
  /** A complaint: when (the first complaint's time is kept). */
  complainedAt: number | null;
  attempt: AttemptRow | null;
  event: EventInput;
  suppression: NewSuppression | null;
  /** The message's body is lost at this time. */
  bodyLostAt: number | null;
  /** The DSN outbox line; `once: 'delay'`: written only if no delay was reported for the recipient before. */
  dsn: { line: unknown; once: 'delay' | null } | null;
}

/** The recipient as re-read inside the transaction; undefined: it no longer exists. */
export interface FateCurrent {
  status: RecipientStatus;
  leaseUntil: number | null;
  /** The owner named by the recipient's lease; null: not leased. */
  leaseOwner: string | null;
}

/** Whether the plan may be applied to the recipient as it is now (nothing is written otherwise). */
export function fateAllowed(plan: FatePlan, current: FateCurrent | undefined): current is FateCurrent {
  if (!current || !plan.from.includes(current.status)) return false;
  if (plan.unlessLeasedAfter !== null && (current.leaseUntil ?? 0) > plan.unlessLeasedAfter) return false;
  // An attempt made under a lease that another owner has since taken (it ran out while the
  // transfer went on): the other owner's attempt decides; this one must not clear its claim.
  if (plan.leaseOwner && current.leaseOwner !== null && current.leaseOwner !== plan.leaseOwner) return false;
  return true;
}

/** The rows an allowed plan writes. */
export function fateRows(plan: FatePlan): FateRows {
  return {
    status: plan.status ? { ...plan.status, at: plan.at } : null,
    complainedAt: plan.complained ? plan.at : null,
    attempt: plan.attempt ? { ...plan.attempt, recipientId: plan.recipientId, messageId: plan.messageId } : null,
    event: { at: plan.at, messageId: plan.messageId, recipientId: plan.recipientId, recipient: plan.address, ...plan.event },
    suppression: plan.suppression
      ? { address: plan.suppression.address, domain: plan.suppression.domain, category: plan.suppression.category, reason: plan.suppression.reason, source: plan.suppression.source, scope: plan.suppression.scope, createdAt: plan.at, expiresAt: null }
      : null,
    bodyLostAt: plan.bodyLost ? plan.at : null,
    dsn: plan.dsn ? { line: plan.dsn, once: plan.dsnOnce } : null,
  };
}

/** The recipient after an applied plan (later plans of the same call see it). */
export function fateAfter(current: FateCurrent, rows: FateRows): FateCurrent {
  return rows.status ? { status: rows.status.status, leaseUntil: null, leaseOwner: null } : current;
}

export function fateRefusedResult(plan: FatePlan, current: FateCurrent | undefined): FateResult {
  return { plan, applied: false, previousStatus: current?.status ?? null, dsnRecorded: false };
}

export function fateAppliedResult(plan: FatePlan, current: FateCurrent, dsnRecorded: boolean): FateResult {
  return { plan, applied: true, previousStatus: current.status, dsnRecorded };
}

/** The DSN lines of one transaction: one outbox row per message, in the order messages first appear. */
export class DsnLines {
  private readonly byMessage = new Map<string, unknown[]>();
  add(messageId: string, line: unknown): void {
    const list = this.byMessage.get(messageId) ?? [];
    list.push(line);
    this.byMessage.set(messageId, list);
  }
  entries(): [messageId: string, lines: unknown[]][] {
    return [...this.byMessage];
  }
}

/** When the outbox rows of a call are stamped: the first plan's time. */
export const dsnRowTime = (plans: readonly FatePlan[]): number => plans[0]?.at ?? 0;

/** A call whose plans are all delivery-attempt outcomes: its commit need not wait for its own flush (a lost one means a redelivery). */
export const onlyAttempts = (plans: readonly FatePlan[]): boolean => plans.length > 0 && plans.every((p) => p.origin === 'attempt');

/** The intake-drop plans of an accept call, in the order of its recipients born dropped. */
export function dropPlansOf(batch: readonly AcceptedMessage[]): FatePlan[] {
  return batch.flatMap((item) => item.dropFates ?? []);
}

/**
 * The intake-drop plans with the ids the insert gave the dropped recipients (in insert order).
 * Plans that do not match the dropped recipients one for one are refused: the whole call fails.
 */
export function withDropIds(plans: readonly FatePlan[], droppedIds: readonly number[]): FatePlan[] {
  if (plans.length === 0) return [];
  if (plans.length !== droppedIds.length) {
    throw new FerryError('FERRY_ERR_STORE', `intake: ${droppedIds.length} recipient(s) dropped at intake but ${plans.length} fate plan(s) given`);
  }
  return plans.map((p, i) => ({ ...p, recipientId: droppedIds[i]! }));
}

/** How many recipients of the call are born dropped (checked against its plans before any write). */
export const droppedCount = (batch: readonly AcceptedMessage[]): number =>
  batch.reduce((n, item) => n + item.recipients.filter((r) => r.status === 'dropped').length, 0);
