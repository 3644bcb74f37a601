import { atomic } from './atomic.js';
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

/** The event types the hourly rollups count (stats_hourly), and those whose category they count too. */
const COUNTED = new Set(['delivered', 'deferred', 'bounced', 'dropped', 'expired', 'complaint']);
const CATEGORIZED = new Set(['bounced', 'dropped', 'expired']);

/**
 * The only code that knows the SQL of the `events` table (an append-only log), and the only code
 * that appends to it: the hourly rollups the console reads (migration 012) are counted here, in
 * the same transaction, as the triggers of 012 counted them until migration 021. A trigger cost
 * every insert into the log a sub-program call even when its WHEN clause was false (each accept's
 * 'queued' event: ~6 µs of the ~10 µs insert, bench/RESULTS.md schema13).
 */
export function createEventsRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // What the triggers of migration 012 did, with the event's values bound instead of NEW.*: the
  // domain lower-cased by SQLite (ASCII, as before), the hour by integer division.
  const countHourly = db.prepare(
    `INSERT INTO stats_hourly (domain, hour, delivered, deferred, bounced, dropped, expired, complained)
     VALUES
       (lower(substr(@recipient, instr(@recipient, '@') + 1)), CAST(@at AS INTEGER) / 3600000,
        @type = 'delivered', @type = 'deferred', @type = 'bounced', @type = 'dropped', @type = 'expired', @type = 'complaint'),
       ('*', CAST(@at AS INTEGER) / 3600000,
        @type = 'delivered', @type = 'deferred', @type = 'bounced', @type = 'dropped', @type = 'expired', @type = 'complaint')
     ON CONFLICT (domain, hour) DO UPDATE SET
       delivered = delivered + excluded.delivered, deferred = deferred + excluded.deferred,
       bounced = bounced + excluded.bounced, dropped = dropped + excluded.dropped,
       expired = expired + excluded.expired, complained = complained + excluded.complained`,
  );
  const countCategory = db.prepare(
    `INSERT INTO stats_categories_hourly (hour, category, n) VALUES (CAST(@at AS INTEGER) / 3600000, coalesce(@category, 'other'), 1)
     ON CONFLICT (hour, category) DO UPDATE SET n = n + 1`,
  );
  // The event and its counts together: inside the caller's transaction, or one of its own.
  const append = atomic(db, (e: EventInput): number => {
    const info = insert.run(e.at, e.messageId, e.recipientId, e.recipient, e.type, e.status, e.category, e.detail ? JSON.stringify(e.detail) : null);
    if (e.recipient !== null && e.recipient !== undefined && COUNTED.has(e.type)) {
      const counted = { at: e.at, recipient: e.recipient, type: e.type, category: e.category ?? null };
      countHourly.run(counted);
      if (CATEGORIZED.has(e.type)) countCategory.run(counted);
    }
    return Number(info.lastInsertRowid);
  });
  const byMessage = db.prepare('SELECT * FROM events WHERE message_id = ? ORDER BY id');
  const maxId = db.prepare('SELECT MAX(id) AS id FROM events');

  return {
    /** Returns the new event's id. Call inside the transaction that made the change. */
    append(e: EventInput): number {
      return append(e);
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
