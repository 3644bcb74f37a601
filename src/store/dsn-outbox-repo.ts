import type { Db } from './db.js';
import type { DsnOutboxRow } from '../core/store-types.js';
export type { DsnOutboxRow } from '../core/store-types.js';

/**
 * The dsn_outbox table (owned by the DSN notifier, src/outcome/dsn.ts). Callers add rows inside
 * the transaction that changes the recipients' status; the notifier removes each row in the
 * transaction that queues its DSN.
 */
export function createDsnOutboxRepo<R>(db: Db) {
  const insert = db.prepare('INSERT INTO dsn_outbox (message_id, recipients, created_at) VALUES (?, ?, ?)');
  const select = db.prepare('SELECT id, message_id, recipients, created_at FROM dsn_outbox WHERE id > ? ORDER BY id LIMIT ?');
  const del = db.prepare('DELETE FROM dsn_outbox WHERE id = ?');
  const count = db.prepare('SELECT count(*) AS n FROM dsn_outbox').pluck();
  return {
    add(messageId: string, recipients: R[], at: number): number {
      return Number(insert.run(messageId, JSON.stringify(recipients), at).lastInsertRowid);
    },
    /** Rows after `afterId`, oldest first. */
    list(afterId: number, limit: number): DsnOutboxRow<R>[] {
      const rows = select.all(afterId, limit) as { id: number; message_id: string; recipients: string; created_at: number }[];
      return rows.map((r) => ({ id: r.id, messageId: r.message_id, recipients: JSON.parse(r.recipients) as R[], createdAt: r.created_at }));
    },
    /** false: the row was already gone (another process queued its report). */
    remove(id: number): boolean {
      return del.run(id).changes === 1;
    },
    count(): number {
      return count.get() as number;
    },
  };
}

export type DsnOutboxRepo<R> = ReturnType<typeof createDsnOutboxRepo<R>>;
