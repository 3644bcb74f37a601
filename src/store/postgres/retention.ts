import type { BodyCandidate, PruneCounts, RecordCandidate, ScanCursor } from '../retention-repo.js';
import type { ClearedBody, PrunedRecord, RetentionStore } from '../../core/store.js';
import { changes, one, rows, type Queryable } from './sql.js';
import { inTransaction, type PgPool } from './pool.js';

interface RawBody {
  id: string;
  created_at: number;
  bytes: number;
  pending: boolean;
  finished_at: number | null;
}

const BODY_COLUMNS = `m.id, m.created_at, m.body_bytes AS bytes,
  EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status IN ('queued','deferred')) AS pending,
  (SELECT MAX(r.updated_at) FROM recipients r WHERE r.message_id = m.id) AS finished_at`;

const fromRaw = (r: RawBody): BodyCandidate => ({ id: r.id, spoolFile: null, bytes: r.bytes, pending: r.pending, finishedAt: r.finished_at ?? r.created_at });

/** A scan cursor's start (-Infinity) as a bigint PostgreSQL accepts. */
const at = (c: ScanCursor) => (Number.isFinite(c.createdAt) ? c.createdAt : Number.MIN_SAFE_INTEGER);

/**
 * Retention (src/store/retention-repo.ts): the same rules; a body here is its chunk rows, so
 * clearing a body deletes them in the same transaction that marks the message. Any node may run
 * the sweep; two running at once only repeat each other's no-ops (every delete is conditional).
 */
export function createPgRetention(pool: PgPool): RetentionStore {
  const onPool = retentionOn(pool, (fn) => inTransaction(pool, fn));
  return {
    ...onPool,
    /** In ONE transaction: clears the body of each of these messages that is finished and was last changed before `finishedBefore`. */
    async clearBodies(ids, now, finishedBefore, dryRun): Promise<ClearedBody[]> {
      return inTransaction(pool, async (c) => {
        const r = retentionOn(c, (fn) => fn(c));
        const cleared: ClearedBody[] = [];
        for (const id of ids) {
          const b = await r.bodyOf(id);
          if (!b || b.pending || b.finishedAt > finishedBefore) continue;
          if (!dryRun && !(await r.clearBody(id, now))) continue;
          cleared.push({ id, spoolFile: b.spoolFile, bytes: b.bytes });
        }
        return cleared;
      });
    },
    /** In ONE transaction: deletes the record of each message that has no reason to stay. */
    async pruneRecords(ids, cutoff, sentUpTo, dryRun): Promise<{ pruned: PrunedRecord[]; heldBack: { dsn: number; webhook: number } }> {
      return inTransaction(pool, async (c) => {
        const r = retentionOn(c, (fn) => fn(c));
        const pruned: PrunedRecord[] = [];
        const heldBack = { dsn: 0, webhook: 0 };
        for (const id of ids) {
          const why = await r.keepReason(id, cutoff, sentUpTo);
          if (why === 'dsn' || why === 'webhook') heldBack[why]++;
          if (why) continue;
          const counts = dryRun ? await r.countRecord(id) : await r.deleteRecord(id);
          pruned.push({ id, spoolFile: null, ...counts });
        }
        return { pruned, heldBack };
      });
    },
  };
}

/** The single operations on a pool (each its own transaction) or on a client inside the caller's transaction (`tx` runs in place). */
function retentionOn(pool: Queryable, tx: <T>(fn: (c: Queryable) => Promise<T>) => Promise<T>) {
  return {
    async bodies(after: ScanCursor, limit: number): Promise<(BodyCandidate & { createdAt: number })[]> {
      const r = await rows<RawBody>(
        pool,
        `SELECT ${BODY_COLUMNS} FROM messages m WHERE m.has_body AND (m.created_at > $1 OR (m.created_at = $1 AND m.id > $2))
         ORDER BY m.created_at, m.id LIMIT $3`,
        [at(after), after.id, limit],
      );
      return r.map((x) => ({ ...fromRaw(x), createdAt: x.created_at }));
    },
    async bodyOf(id: string): Promise<BodyCandidate | undefined> {
      const r = await one<RawBody>(pool, `SELECT ${BODY_COLUMNS} FROM messages m WHERE m.id = $1 AND m.has_body`, [id]);
      return r && fromRaw(r);
    },
    async clearBody(id: string, when: number): Promise<boolean> {
      return tx(async (c) => {
        const n = await changes(
          c,
          `UPDATE messages SET has_body = false, body_removed_at = $2
           WHERE id = $1 AND has_body AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id AND r.status IN ('queued','deferred'))`,
          [id, when],
        );
        if (n === 1) await c.query('DELETE FROM message_chunks WHERE message_id = $1', [id]);
        return n === 1;
      });
    },
    async oldMessages(cutoff: number, after: ScanCursor, limit: number): Promise<RecordCandidate[]> {
      const r = await rows<{ id: string; created_at: number }>(
        pool,
        `SELECT id, created_at FROM messages WHERE created_at < $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
         ORDER BY created_at, id LIMIT $4`,
        [cutoff, at(after), after.id, limit],
      );
      return r.map((x) => ({ id: x.id, spoolFile: null, createdAt: x.created_at }));
    },
    async keepReason(id: string, cutoff: number, sentUpTo: number): Promise<'pending' | 'recent' | 'dsn' | 'webhook' | null> {
      const r = (await one<{ pending: boolean; changed: number | null; ev_at: number | null; ev_id: number | null; dsn: boolean }>(
        pool,
        `SELECT EXISTS (SELECT 1 FROM recipients WHERE message_id = $1 AND status IN ('queued','deferred')) AS pending,
           (SELECT MAX(updated_at) FROM recipients WHERE message_id = $1) AS changed,
           (SELECT MAX(at) FROM events WHERE message_id = $1) AS ev_at,
           (SELECT MAX(id) FROM events WHERE message_id = $1) AS ev_id,
           EXISTS (SELECT 1 FROM dsn_outbox WHERE message_id = $1) AS dsn`,
        [id],
      ))!;
      if (r.pending) return 'pending';
      if ((r.changed ?? 0) >= cutoff || (r.ev_at ?? 0) >= cutoff) return 'recent';
      if (r.dsn) return 'dsn';
      if ((r.ev_id ?? 0) > sentUpTo) return 'webhook';
      return null;
    },
    async countRecord(id: string): Promise<PruneCounts> {
      return (await one<PruneCounts>(
        pool,
        `SELECT (SELECT count(*)::int FROM recipients WHERE message_id = $1) AS recipients,
                (SELECT count(*)::int FROM attempts WHERE message_id = $1) AS attempts,
                (SELECT count(*)::int FROM events WHERE message_id = $1) AS events`,
        [id],
      ))!;
    },
    /** Deletes the message and everything recorded about it (chunks by cascade), in one transaction. */
    async deleteRecord(id: string): Promise<PruneCounts> {
      return tx(async (c) => {
        const events = await changes(c, 'DELETE FROM events WHERE message_id = $1', [id]);
        const attempts = await changes(c, 'DELETE FROM attempts WHERE message_id = $1', [id]);
        const recipients = await changes(c, 'DELETE FROM recipients WHERE message_id = $1', [id]);
        await c.query('DELETE FROM messages WHERE id = $1', [id]);
        return { recipients, attempts, events };
      });
    },
    async webhookSentUpTo(urls: readonly string[]): Promise<number> {
      if (urls.length === 0) return Infinity;
      const r = await one<{ m: number | null }>(pool, 'SELECT MIN(last_event_id) AS m FROM webhook_cursors WHERE url = ANY($1::text[])', [urls]);
      return r?.m ?? Infinity;
    },
  };
}
