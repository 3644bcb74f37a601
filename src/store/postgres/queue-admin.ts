import { RATE_LIMITED } from '../recipients-repo.js';
import type { DestinationSummary, PendingState, QueueSelector, RecipientRow } from '../../core/store-types.js';
import type { QueueAdminStore } from '../../core/store.js';
import { Params, rows, changes, type Queryable } from './sql.js';
import { recipientFromRaw, type RawRecipient } from './recipients.js';

function where(sel: QueueSelector, p: Params): string {
  if (sel.messageId !== undefined) return `message_id = ${p.add(sel.messageId)}`;
  if (sel.domain !== undefined) return `domain = ${p.add(sel.domain.toLowerCase())}`;
  if (sel.all) return 'true';
  throw new Error('queue selector: a message id, a domain or all');
}

/**
 * `ferry queue …` (src/store/queue-admin-repo.ts) over the cluster's queue: in flight means leased by any node.
 * On the pool, or on a client inside the caller's transaction (the audited retry).
 */
export function createPgQueueAdmin(pool: Queryable): Omit<QueueAdminStore, 'destinations'> {
  return {
    async summary(now: number, filter: { domain?: string | undefined; state?: PendingState | undefined } = {}): Promise<DestinationSummary[]> {
      const p = new Params();
      const nowP = p.add(now);
      const conds = ["r.status IN ('queued','deferred')"];
      if (filter.domain !== undefined) conds.push(`r.domain = ${p.add(filter.domain.toLowerCase())}`);
      const inFlight = `COALESCE(r.lease_until, 0) > ${nowP}`;
      const held = `r.wait_reason = '${RATE_LIMITED}' AND r.next_attempt_at > ${nowP} AND NOT (${inFlight})`;
      if (filter.state === 'in-flight') conds.push(inFlight);
      else if (filter.state) conds.push(`r.status = ${p.add(filter.state)} AND NOT (${inFlight})`);
      const r = await rows<{ domain: string; queued: number; deferred: number; in_flight: number; oldest: number; next_at: number | null; held: number; held_until: number | null }>(
        pool,
        `SELECT * FROM (SELECT r.domain AS domain,
           COUNT(*) FILTER (WHERE r.status = 'queued' AND NOT (${inFlight}))::int AS queued,
           COUNT(*) FILTER (WHERE r.status = 'deferred' AND NOT (${inFlight}))::int AS deferred,
           COUNT(*) FILTER (WHERE ${inFlight})::int AS in_flight,
           MIN(r.created_at) AS oldest,
           MIN(r.next_attempt_at) FILTER (WHERE NOT (${inFlight})) AS next_at,
           COUNT(*) FILTER (WHERE ${held})::int AS held,
           MIN(r.next_attempt_at) FILTER (WHERE ${held}) AS held_until
         FROM recipients r WHERE ${conds.join(' AND ')}
         GROUP BY r.domain) x ORDER BY queued + deferred + in_flight DESC, domain`,
        p.values,
      );
      return r.map((x) => ({
        domain: x.domain,
        queued: x.queued,
        deferred: x.deferred,
        inFlight: x.in_flight,
        oldestCreatedAt: x.oldest,
        nextAttemptAt: x.next_at,
        rateLimited: x.held,
        rateLimitedUntil: x.held_until,
      }));
    },
    async retry(sel: QueueSelector, now: number): Promise<number> {
      const p = new Params();
      const w = where(sel, p);
      const nowP = p.add(now);
      return changes(
        pool,
        `UPDATE recipients SET next_attempt_at = ${nowP}, updated_at = ${nowP}
         WHERE ${w} AND status IN ('queued','deferred') AND COALESCE(lease_until, 0) <= ${nowP}`,
        p.values,
      );
    },
    /** The selected pending recipients (queued or deferred, in flight or not), oldest first: what a purge ends (through outcome/fate). */
    async pending(sel: QueueSelector): Promise<RecipientRow[]> {
      const p = new Params();
      const w = where(sel, p);
      return (await rows<RawRecipient>(pool, `SELECT * FROM recipients WHERE ${w} AND status IN ('queued','deferred') ORDER BY id`, p.values)).map(recipientFromRaw);
    },
    async messageExists(id: string): Promise<boolean> {
      return (await changes(pool, 'SELECT 1 FROM messages WHERE id = $1', [id])) === 1;
    },
  };
}
