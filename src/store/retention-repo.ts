import type { Db } from './db.js';
import { atomic } from './atomic.js';
import type { ScanCursor, BodyCandidate, RecordCandidate, PruneCounts } from '../core/store-types.js';
export type { ScanCursor, BodyCandidate, RecordCandidate, PruneCounts } from '../core/store-types.js';
export { SCAN_START } from '../core/store-types.js';

/**
 * The SQL of retention (src/ops/retention.ts): which bodies and which finished messages may go,
 * and deleting them. Every scan is keyed by (created_at, id) and bounded by `limit`, so a pass
 * over a large history is a series of short transactions, never one long one.
 */

interface RawBody {
  id: string;
  created_at: number;
  spool_file: string | null;
  bytes: number;
  pending: number;
  finished_at: number | null;
}

const BODY_COLUMNS = `m.id, m.created_at, m.spool_file, m.size - length(m.headers) AS bytes,
  EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status IN ('queued','deferred')) AS pending,
  (SELECT MAX(r.updated_at) FROM recipients r WHERE r.message_id = m.id) AS finished_at`;

function fromRaw(r: RawBody): BodyCandidate {
  return { id: r.id, spoolFile: r.spool_file, bytes: r.bytes, pending: r.pending === 1, finishedAt: r.finished_at ?? r.created_at };
}

export function createRetentionRepo(db: Db) {
  const bodyScan = db.prepare(
    `SELECT ${BODY_COLUMNS} FROM messages m INDEXED BY messages_with_body
     WHERE (m.body IS NOT NULL OR m.spool_file IS NOT NULL) AND (m.created_at > @createdAt OR (m.created_at = @createdAt AND m.id > @id))
     ORDER BY m.created_at, m.id LIMIT @limit`,
  );
  const bodyOf = db.prepare(`SELECT ${BODY_COLUMNS} FROM messages m WHERE m.id = ? AND (m.body IS NOT NULL OR m.spool_file IS NOT NULL)`);
  // The pending check is repeated in the write: whatever the scan saw, a body with a recipient
  // that can still be delivered is never removed.
  const clearBody = db.prepare(
    `UPDATE messages SET body = NULL, spool_file = NULL, body_removed_at = @at
     WHERE id = @id AND (body IS NOT NULL OR spool_file IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id AND r.status IN ('queued','deferred'))`,
  );
  const recordScan = db.prepare(
    `SELECT id, spool_file, created_at FROM messages INDEXED BY messages_created
     WHERE created_at < @cutoff AND (created_at > @createdAt OR (created_at = @createdAt AND id > @id))
     ORDER BY created_at, id LIMIT @limit`,
  );
  const pendingOf = db.prepare("SELECT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND status IN ('queued','deferred'))").pluck();
  const lastRecipientChange = db.prepare('SELECT MAX(updated_at) FROM recipients WHERE message_id = ?').pluck();
  const lastEvent = db.prepare('SELECT MAX(at) AS at, MAX(id) AS id FROM events WHERE message_id = ?');
  const inOutbox = db.prepare('SELECT EXISTS (SELECT 1 FROM dsn_outbox WHERE message_id = ?)').pluck();
  const countRecipients = db.prepare('SELECT count(*) FROM recipients WHERE message_id = ?').pluck();
  // A message's attempts through its recipients (no index of attempts by message: migration 021).
  const countAttempts = db
    .prepare('SELECT count(*) FROM recipients r JOIN attempts a ON a.recipient_id = r.id WHERE r.message_id = ?')
    .pluck();
  const countEvents = db.prepare('SELECT count(*) FROM events WHERE message_id = ?').pluck();
  const deleteEvents = db.prepare('DELETE FROM events WHERE message_id = ?');
  const deleteAttempts = db.prepare('DELETE FROM attempts WHERE recipient_id IN (SELECT id FROM recipients WHERE message_id = ?)');
  const deleteRecipients = db.prepare('DELETE FROM recipients WHERE message_id = ?');
  const deleteMessage = db.prepare('DELETE FROM messages WHERE id = ?');
  // A large inline body lives in message_bodies (migration 020): removed with the row's `body`.
  const deleteApartBody = db.prepare('DELETE FROM message_bodies WHERE message_id = ?');
  const clearBodyNow = atomic(db, (id: string, at: number): boolean => {
    if (clearBody.run({ id, at }).changes !== 1) return false;
    deleteApartBody.run(id);
    return true;
  });

  return {
    /** The next `limit` messages still holding a body, after `after`. */
    bodies(after: ScanCursor, limit: number): (BodyCandidate & { createdAt: number })[] {
      return (bodyScan.all({ createdAt: after.createdAt, id: after.id, limit }) as RawBody[]).map((r) => ({ ...fromRaw(r), createdAt: r.created_at }));
    },
    /** One message's body, if it still holds one. */
    bodyOf(id: string): BodyCandidate | undefined {
      const r = bodyOf.get(id) as RawBody | undefined;
      return r && fromRaw(r);
    },
    /** Deletes the body of a finished message; false when it has none or a recipient is pending. */
    clearBody(id: string, at: number): boolean {
      return clearBodyNow(id, at);
    },
    /** The next `limit` messages accepted before `cutoff`, after `after` (finished or not). */
    oldMessages(cutoff: number, after: ScanCursor, limit: number): RecordCandidate[] {
      return (recordScan.all({ cutoff, createdAt: after.createdAt, id: after.id, limit }) as { id: string; spool_file: string | null; created_at: number }[]).map(
        (r) => ({ id: r.id, spoolFile: r.spool_file, createdAt: r.created_at }),
      );
    },
    /**
     * Why a message's record must stay, or null when it may go: a recipient still pending, a
     * change or an event after `cutoff`, a DSN not yet queued about it, an event a webhook has
     * not been sent (id above `sentUpTo`).
     */
    keepReason(id: string, cutoff: number, sentUpTo: number): 'pending' | 'recent' | 'dsn' | 'webhook' | null {
      if (pendingOf.get(id) === 1) return 'pending';
      const changed = lastRecipientChange.get(id) as number | null;
      const ev = lastEvent.get(id) as { at: number | null; id: number | null };
      if ((changed ?? 0) >= cutoff || (ev.at ?? 0) >= cutoff) return 'recent';
      if (inOutbox.get(id) === 1) return 'dsn';
      if ((ev.id ?? 0) > sentUpTo) return 'webhook';
      return null;
    },
    /** What deleting the message would remove (dry run). */
    countRecord(id: string): PruneCounts {
      return { recipients: countRecipients.get(id) as number, attempts: countAttempts.get(id) as number, events: countEvents.get(id) as number };
    },
    /** Deletes the message and everything recorded about it. Call inside a transaction. */
    deleteRecord(id: string): PruneCounts {
      const events = deleteEvents.run(id).changes;
      const attempts = deleteAttempts.run(id).changes;
      const recipients = deleteRecipients.run(id).changes;
      deleteApartBody.run(id);
      deleteMessage.run(id);
      return { recipients, attempts, events };
    },
    /**
     * The highest event id every configured webhook URL has acknowledged (events above it must
     * stay); Infinity when no URL has a cursor. A URL without a cursor starts at the newest event
     * when its sender first runs, so it waits for nothing older.
     */
    webhookSentUpTo(urls: readonly string[]): number {
      if (urls.length === 0) return Infinity;
      const min = db
        .prepare(`SELECT MIN(last_event_id) FROM webhook_cursors WHERE url IN (${urls.map(() => '?').join(',')})`)
        .pluck()
        .get(...urls) as number | null;
      return min ?? Infinity;
    },
  };
}

export type RetentionRepo = ReturnType<typeof createRetentionRepo>;
