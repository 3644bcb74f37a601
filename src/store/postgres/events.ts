import { eventFromRaw, MORE_COUNT_CAP, type EventInput, type EventListFilter, type EventRow, type RawEvent } from '../events-repo.js';
import { one, Params, rows, type Queryable } from './sql.js';
import type { PgPool } from './pool.js';

/**
 * Appends events in ONE statement, ids in the order given (a fate transaction's events, written
 * last: the rollup trigger's row locks are then held only from this statement to the commit).
 */
export async function appendEvents(db: Queryable, list: readonly EventInput[]): Promise<void> {
  if (list.length === 0) return;
  await db.query(
    `INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
     SELECT at, message_id, recipient_id, recipient, type, status, category, detail
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       WITH ORDINALITY AS x(at, message_id, recipient_id, recipient, type, status, category, detail, ord)
     ORDER BY ord`,
    [
      list.map((e) => e.at), list.map((e) => e.messageId), list.map((e) => e.recipientId), list.map((e) => e.recipient),
      list.map((e) => e.type), list.map((e) => e.status), list.map((e) => e.category), list.map((e) => (e.detail ? JSON.stringify(e.detail) : null)),
    ],
  );
}

/** Appends one event on a pool or inside the caller's transaction; returns its id. */
export async function appendEvent(db: Queryable, e: EventInput): Promise<number> {
  const r = await one<{ id: number }>(
    db,
    `INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [e.at, e.messageId, e.recipientId, e.recipient, e.type, e.status, e.category, e.detail ? JSON.stringify(e.detail) : null],
  );
  return r!.id;
}

/** The cluster's one event log (ids from one identity: increasing across nodes in commit-independent order). */
export function createPgEvents(pool: PgPool) {
  return {
    append(e: EventInput): Promise<number> {
      return appendEvent(pool, e);
    },
    /**
     * Where a new follower starts: the last event settledAfter would have delivered, in its
     * (transaction, id) order, so an event of a transaction still running at the start comes
     * after it whatever its id (MAX(id) would skip one holding a lower id, or from an older
     * transaction a higher one). Errs towards sending a little more: events of the last moments
     * before the start that are not settled yet are sent too.
     */
    async lastId(): Promise<number> {
      const r = await one<{ id: number }>(
        pool,
        'SELECT id FROM events WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid DESC, id DESC LIMIT 1',
      );
      return r?.id ?? 0;
    },
    /**
     * The next events after `afterId` that can no longer be overtaken: only those whose
     * transaction is older than every transaction still running, in (transaction, id) order.
     * Ids come from one sequence but transactions commit in any order, so a plain `id > cursor`
     * could skip an event committed late under a lower id. Filtering on the horizon is not
     * enough in id order either: a fate transaction takes its transaction id at its first write
     * and its event ids at its last, so a younger transaction can hold a lower event id than an
     * older one that is already settled. Every event not yet settled belongs to a transaction at
     * or past the horizon, so in (transaction, id) order it comes after everything delivered.
     * The cursor stays an event id: its position is that event's (transaction, id). If that
     * event is gone (retention), ids alone are the best left.
     *
     * Two statements, each a range of the index on (txid, id) (PostgreSQL migration 006): the
     * cursor's position by primary key, then the events after it. One statement comparing with
     * a subquery's row, or falling back inside it, is not a range the planner can read, and
     * every poll would scan and sort the whole table.
     */
    async settledAfter(afterId: number, limit: number): Promise<EventRow[]> {
      const cursor = await one<{ txid: string }>(pool, 'SELECT txid::text AS txid FROM events WHERE id = $1', [afterId]);
      const r = cursor
        ? await rows<RawEvent>(
            pool,
            `SELECT id, at, message_id, recipient_id, recipient, type, status, category, detail FROM events
             WHERE (txid, id) > ($1::xid8, $2::bigint) AND txid < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY txid, id LIMIT $3`,
            [cursor.txid, afterId, limit],
          )
        : await rows<RawEvent>(
            pool,
            `SELECT id, at, message_id, recipient_id, recipient, type, status, category, detail FROM events
             WHERE id > $1 AND txid < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY txid, id LIMIT $2`,
            [afterId, limit],
          );
      return r.map(eventFromRaw);
    },
    async forMessage(messageId: string): Promise<EventRow[]> {
      return (await rows<RawEvent>(pool, 'SELECT id, at, message_id, recipient_id, recipient, type, status, category, detail FROM events WHERE message_id = $1 ORDER BY id', [messageId])).map(eventFromRaw);
    },
    async list(filter: EventListFilter): Promise<EventRow[]> {
      const p = new Params();
      const where = conditions(filter, p);
      const sql = `SELECT id, at, message_id, recipient_id, recipient, type, status, category, detail FROM events ${where} ORDER BY id ${filter.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ${p.add(filter.limit)}`;
      return (await rows<RawEvent>(pool, sql, p.values)).map(eventFromRaw);
    },
    async count(filter: Omit<EventListFilter, 'limit' | 'order'>): Promise<number> {
      const p = new Params();
      const where = conditions(filter, p);
      return (await one<{ n: number }>(pool, `SELECT COUNT(*)::int AS n FROM (SELECT 1 FROM events ${where} LIMIT ${p.add(MORE_COUNT_CAP + 1)}) x`, p.values))!.n;
    },
  };
}

function conditions(filter: Omit<EventListFilter, 'limit' | 'order'>, p: Params): string {
  const where: string[] = [];
  if (filter.since !== undefined) where.push(`at >= ${p.add(filter.since)}`);
  if (filter.type) where.push(`type = ${p.add(filter.type)}`);
  if (filter.afterId !== undefined) where.push(`id > ${p.add(filter.afterId)}`);
  if (filter.beforeId !== undefined) where.push(`id < ${p.add(filter.beforeId)}`);
  if (filter.messageId) where.push(`message_id = ${p.add(filter.messageId)}`);
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

export type PgEvents = ReturnType<typeof createPgEvents>;
