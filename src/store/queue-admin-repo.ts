import type { Db } from './db.js';
import { createRecipientsRepo, RATE_LIMITED, type RecipientRow } from './recipients-repo.js';
import type { RawDestination } from './console-rows.js';

/**
 * The admin's view of the queue (`ferry queue ...`): what waits per destination, making waiting
 * recipients due now, and ending them. Pending means queued or deferred; a pending recipient
 * whose lease has not run out is in flight (a worker holds it).
 *
 * These run in the CLI process while the relay runs: each write is one short transaction, and
 * the relay's scheduler notices the change at its next wake (at most every few seconds).
 */

import type { DestinationSummary, PendingState, PurgeResult, QueueSelector } from '../core/store-types.js';
export { PENDING_STATES } from '../core/store-types.js';
export type { DestinationSummary, PendingState, PurgeResult, QueueSelector };

function where(sel: QueueSelector): { sql: string; params: Record<string, unknown> } {
  if (sel.messageId !== undefined) return { sql: 'message_id = @messageId', params: { messageId: sel.messageId } };
  if (sel.domain !== undefined) return { sql: 'domain = @domain', params: { domain: sel.domain.toLowerCase() } };
  if (sel.all) return { sql: '1 = 1', params: {} };
  throw new Error('queue selector: a message id, a domain or all');
}

/** The console's destination row (console-rows.ts), with the recipients held back for rate budget. */
interface RawSummary extends RawDestination {
  held: number;
  held_until: number | null;
}

export function createQueueAdminRepo(db: Db) {
  const recipients = createRecipientsRepo(db);

  function summary(now: number, filter: { domain?: string | undefined; state?: PendingState | undefined } = {}): DestinationSummary[] {
    const conds = ["r.status IN ('queued','deferred')"];
    const params: Record<string, unknown> = { now };
    if (filter.domain !== undefined) {
      // One destination's waiting recipients, not every recipient in the state (with a state the
      // planner would pick recipients_pending_age, status first).
      conds.push('r.domain = @domain');
      params.domain = filter.domain.toLowerCase();
    }
    const inFlight = 'COALESCE(r.lease_until, 0) > @now';
    const held = `r.wait_reason = '${RATE_LIMITED}' AND r.next_attempt_at > @now AND NOT (${inFlight})`;
    if (filter.state === 'in-flight') conds.push(inFlight);
    else if (filter.state) {
      conds.push(`r.status = @state AND NOT (${inFlight})`);
      params.state = filter.state;
    }
    const rows = db
      .prepare(
        `SELECT r.domain AS domain,
           SUM(CASE WHEN r.status = 'queued' AND NOT (${inFlight}) THEN 1 ELSE 0 END) AS queued,
           SUM(CASE WHEN r.status = 'deferred' AND NOT (${inFlight}) THEN 1 ELSE 0 END) AS deferred,
           SUM(CASE WHEN ${inFlight} THEN 1 ELSE 0 END) AS in_flight,
           MIN(r.created_at) AS oldest,
           MIN(CASE WHEN NOT (${inFlight}) THEN r.next_attempt_at END) AS next_at,
           SUM(CASE WHEN ${held} THEN 1 ELSE 0 END) AS held,
           MIN(CASE WHEN ${held} THEN r.next_attempt_at END) AS held_until
         FROM recipients r${filter.domain !== undefined ? ' INDEXED BY recipients_pending_dest' : ''}
         WHERE ${conds.join(' AND ')}
         GROUP BY r.domain
         ORDER BY (queued + deferred + in_flight) DESC, r.domain`,
      )
      .all(params) as RawSummary[];
    return rows.map((r) => ({
      domain: r.domain,
      queued: r.queued,
      deferred: r.deferred,
      inFlight: r.in_flight,
      oldestCreatedAt: r.oldest,
      nextAttemptAt: r.next_at,
      rateLimited: r.held,
      rateLimitedUntil: r.held_until,
    }));
  }

  /**
   * Makes the selected pending recipients due now. Those in flight are left alone (making them
   * due would deliver them twice). Returns how many were made due.
   */
  function retry(sel: QueueSelector, now: number): number {
    const w = where(sel);
    return db
      .prepare(
        `UPDATE recipients SET next_attempt_at = @now, updated_at = @now
         WHERE ${w.sql} AND status IN ('queued','deferred') AND COALESCE(lease_until, 0) <= @now`,
      )
      .run({ ...w.params, now }).changes;
  }

  /** The selected pending recipients (queued or deferred, in flight or not), oldest first: what a purge ends. */
  function pending(sel: QueueSelector): RecipientRow[] {
    const w = where(sel);
    const ids = db.prepare(`SELECT id FROM recipients WHERE ${w.sql} AND status IN ('queued','deferred') ORDER BY id`).pluck().all(w.params) as number[];
    return ids.map((id) => recipients.get(id)).filter((r): r is RecipientRow => r !== undefined);
  }

  return {
    /** Pending recipients per destination domain, the busiest first. */
    summary,
    retry,
    /** What a purge would end; the purge itself is each recipient's fate (outcome/fate, origin admin-purge). */
    pending,
    /** Whether a message with this id exists. */
    messageExists(id: string): boolean {
      return db.prepare('SELECT 1 FROM messages WHERE id = ?').get(id) !== undefined;
    },
  };
}

export type QueueAdminRepo = ReturnType<typeof createQueueAdminRepo>;
