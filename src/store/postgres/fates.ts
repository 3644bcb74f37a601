import type { FatePlan, FateResult } from '../../core/fate.js';
import type { FatesStore } from '../../core/store.js';
import { DsnLines, dsnRowTime, fateAfter, fateAllowed, fateAppliedResult, fateRefusedResult, fateRows, onlyAttempts, type FateCurrent } from '../fate-rows.js';
import { addDsn, insertAttempt } from './delivery-records.js';
import { appendEvents } from './events.js';
import type { EventInput } from '../../core/store-types.js';
import { markBodyLost } from './messages.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';
import { changeRecipientStatus, markComplained, markDelayReported } from './recipients.js';
import { rows } from './sql.js';
import { upsertSuppression } from './suppressions.js';

/**
 * Executes fate plans inside the caller's transaction on `c`: the PostgreSQL side of
 * src/store/fate-writes.ts, reading plans through the same fate-rows.ts (legality, rows). The
 * recipients concerned are locked first, in id order (two nodes recording fates for the same
 * recipients cannot deadlock, and an expiry sweep on one node waits for an attempt outcome on
 * another rather than overwriting it); each plan then sees the status the earlier plans of the
 * call left. Rows are written in the order fate-rows.ts gives, except that the call's events are
 * inserted together at the end (nothing inside the transaction reads them before).
 */
export async function recordFatesOn(c: PgClient, plans: readonly FatePlan[]): Promise<FateResult[]> {
  if (plans.length === 0) return [];
  const ids = [...new Set(plans.map((p) => p.recipientId))].sort((a, b) => a - b);
  const found = await rows<{ id: number; status: FateCurrent['status']; lease_until: number | null; lease_owner: string | null }>(
    c,
    'SELECT id, status, lease_until, lease_owner FROM recipients WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
    [ids],
  );
  const now = new Map<number, FateCurrent>(found.map((r) => [r.id, { status: r.status, leaseUntil: r.lease_until, leaseOwner: r.lease_owner }]));
  const dsn = new DsnLines();
  const events: EventInput[] = [];
  const results: FateResult[] = [];
  for (const plan of plans) {
    const current = now.get(plan.recipientId);
    if (!fateAllowed(plan, current)) {
      results.push(fateRefusedResult(plan, current));
      continue;
    }
    const w = fateRows(plan);
    if (w.status) await changeRecipientStatus(c, plan.recipientId, w.status);
    if (w.complainedAt !== null) await markComplained(c, plan.recipientId, w.complainedAt);
    if (w.attempt) await insertAttempt(c, w.attempt);
    events.push(w.event);
    if (w.suppression) await upsertSuppression(c, w.suppression);
    if (w.bodyLostAt !== null) await markBodyLost(c, plan.messageId, w.bodyLostAt);
    let dsnRecorded = false;
    if (w.dsn && (w.dsn.once !== 'delay' || (await markDelayReported(c, plan.recipientId, plan.at)))) {
      dsn.add(plan.messageId, w.dsn.line);
      dsnRecorded = true;
    }
    now.set(plan.recipientId, fateAfter(current, w));
    results.push(fateAppliedResult(plan, current, dsnRecorded));
  }
  // The events last, in one statement: their rollup trigger locks the hour's cluster-wide row
  // ('*', migration 003), which every fate transaction needs; taken here it is held only for this
  // statement, the outbox rows and the commit, not across the round trips above.
  for (const [messageId, lines] of dsn.entries()) await addDsn(c, messageId, lines, dsnRowTime(plans));
  await appendEvents(c, events);
  return results;
}

/** `fates.record`: one transaction for all plans. */
export function createPgFates(pool: PgPool): FatesStore {
  return {
    async record(plans) {
      if (plans.length === 0) return [];
      return inTransaction(pool, async (c) => {
        // As in the SQLite engine: attempt outcomes commit without waiting for their own WAL
        // flush (losing one to a server crash means a redelivery, which at-least-once allows; the
        // next synchronous commit flushes it). Every other fate would be lost for good: strict.
        if (onlyAttempts(plans)) await c.query('SET LOCAL synchronous_commit = off');
        return recordFatesOn(c, plans);
      });
    },
  };
}
