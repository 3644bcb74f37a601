import type { Db } from './db.js';
import type { EventInput, EventRow, EventListFilter } from '../core/store-types.js';
import { MORE_COUNT_CAP } from '../core/store-types.js';
export type { EventInput, EventRow, EventListFilter } from '../core/store-types.js';
export { MORE_COUNT_CAP } from '../core/store-types.js';

/** An events row as both engines read it (snake_case columns, detail as JSON text). */
export interface RawEvent {
  id: number;
  at: number;
  message_id: string;
  recipient_id: number | null;
  recipient: string | null;
  type: string;
  status: string | null;
  category: string | null;
  detail: string | null;
}

export function eventFromRaw(r: RawEvent): EventRow {
  return {
    id: r.id,
    at: r.at,
    messageId: r.message_id,
    recipientId: r.recipient_id,
    recipient: r.recipient,
    type: r.type,
    status: r.status,
    category: r.category,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
  };
}

/** The only code that knows the SQL of the `events` table (an append-only log). */
export function createEventsRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
     VALUES (@at, @messageId, @recipientId, @recipient, @type, @status, @category, @detail)`,
  );
  const byMessage = db.prepare('SELECT * FROM events WHERE message_id = ? ORDER BY id');
  const maxId = db.prepare('SELECT MAX(id) AS id FROM events');

  return {
    /** Returns the new event's id. Call inside the transaction that made the change. */
    append(e: EventInput): number {
      const info = insert.run({ ...e, detail: e.detail ? JSON.stringify(e.detail) : null });
      return Number(info.lastInsertRowid);
    },
    /** The newest event's id (0 when the log is empty): where a new follower starts. */
    lastId(): number {
      return (maxId.get() as { id: number | null }).id ?? 0;
    },
    forMessage(messageId: string): EventRow[] {
      return (byMessage.all(messageId) as RawEvent[]).map(eventFromRaw);
    },
    list(filter: EventListFilter): EventRow[] {
      const { where, params } = conditions(filter);
      const sql = `SELECT * FROM events ${where} ORDER BY id ${filter.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`;
      return (db.prepare(sql).all(...params, filter.limit) as RawEvent[]).map(eventFromRaw);
    },
    /** How many events match the filter (at most MORE_COUNT_CAP + 1): what is beyond a page. */
    count(filter: Omit<EventListFilter, 'limit' | 'order'>): number {
      const { where, params } = conditions(filter);
      const sql = `SELECT COUNT(*) AS n FROM (SELECT 1 FROM events ${where} LIMIT ?)`;
      return (db.prepare(sql).get(...params, MORE_COUNT_CAP + 1) as { n: number }).n;
    },
  };
}

function conditions(filter: Omit<EventListFilter, 'limit' | 'order'>): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since !== undefined) {
    where.push('at >= ?');
    params.push(filter.since);
  }
  if (filter.type) {
    where.push('type = ?');
    params.push(filter.type);
  }
  if (filter.afterId !== undefined) {
    where.push('id > ?');
    params.push(filter.afterId);
  }
  if (filter.beforeId !== undefined) {
    where.push('id < ?');
    params.push(filter.beforeId);
  }
  if (filter.messageId) {
    where.push('message_id = ?');
    params.push(filter.messageId);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

export type EventsRepo = ReturnType<typeof createEventsRepo>;
