import type { RecipientStatus } from '../../core/types.js';
import { sourcesOf } from '../../core/status.js';
import { FerryError } from '../../core/errors.js';
import type { NewRecipient, RecipientRow, StatusChange } from '../recipients-repo.js';
import { recipientFromRaw, type RawRecipient } from '../recipient-rows.js';
import { changes, one, rows, type Queryable } from './sql.js';
import type { PgPool } from './pool.js';

/** postgres/queue-admin.ts reads its rows through these. */
export { recipientFromRaw, type RawRecipient };

const PENDING = "status IN ('queued','deferred')";

/** The UPDATE that moves a recipient to `to`, matching only rows in a status the move is legal from. */
function changeSql(to: RecipientStatus): string {
  const from = sourcesOf(to).map((s) => `'${s}'`).join(',');
  // A category says why mail did not go: a delivered recipient keeps none from earlier deferrals.
  const category = to === 'delivered' ? '$7' : 'COALESCE($7, category)';
  return `UPDATE recipients SET status = $2, updated_at = $3, next_attempt_at = $4, lease_until = NULL, lease_owner = NULL,
      attempts = attempts + $5,
      last_code = COALESCE($6, last_code), last_enhanced = COALESCE($8, last_enhanced),
      last_reply = COALESCE($9, last_reply), category = ${category},
      mx_host = COALESCE($10, mx_host), remote_ip = COALESCE($11, remote_ip),
      tls_protocol = COALESCE($12, tls_protocol), tls_cipher = COALESCE($13, tls_cipher)
    WHERE id = $1 AND status IN (${from || "''"})`;
}

/** The one status change, on a pool or inside a caller's transaction. Throws FERRY_ERR_ILLEGAL_TRANSITION. */
export async function changeRecipientStatus(db: Queryable, id: number, change: StatusChange): Promise<void> {
  const n = await changes(db, changeSql(change.status), [
    id,
    change.status,
    change.at,
    change.nextAttemptAt,
    change.attempted ? 1 : 0,
    change.code ?? null,
    change.category ?? null,
    change.enhanced ?? null,
    change.reply ?? null,
    change.mxHost ?? null,
    change.remoteIp ?? null,
    change.tlsProtocol ?? null,
    change.tlsCipher ?? null,
  ]);
  if (n !== 1) {
    const current = await one<{ status: string }>(db, 'SELECT status FROM recipients WHERE id = $1', [id]);
    throw new FerryError(
      'FERRY_ERR_ILLEGAL_TRANSITION',
      current ? `recipient ${id}: ${current.status} cannot become ${change.status}` : `recipient ${id} does not exist`,
    );
  }
}

/** Records that a delay DSN is due; false when one already was. */
export async function markDelayReported(db: Queryable, id: number, at: number): Promise<boolean> {
  return (await changes(db, 'UPDATE recipients SET dsn_delay_at = $1 WHERE id = $2 AND dsn_delay_at IS NULL', [at, id])) === 1;
}

/** The first complaint's time is kept. */
export async function markComplained(db: Queryable, id: number, at: number): Promise<void> {
  await db.query('UPDATE recipients SET complained_at = coalesce(complained_at, $1) WHERE id = $2', [at, id]);
}

export async function recipientsForMessage(db: Queryable, messageId: string, lock = false): Promise<RecipientRow[]> {
  return (await rows<RawRecipient>(db, `SELECT * FROM recipients WHERE message_id = $1 ORDER BY id${lock ? ' FOR UPDATE' : ''}`, [messageId])).map(
    recipientFromRaw,
  );
}

/** The `recipients` group: the methods of src/store/recipients-repo.ts, asynchronous, claims shared by every node. */
export function createPgRecipients(pool: PgPool) {
  return {
    async insert(r: NewRecipient): Promise<number> {
      const row = await one<{ id: number }>(
        pool,
        `INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, created_at, updated_at, last_reply, category, dsn_notify, dsn_orcpt)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) RETURNING id`,
        [
          r.messageId,
          r.address,
          r.domain,
          r.status,
          r.status === 'queued' ? r.at : null,
          r.at,
          r.reason,
          r.category,
          r.dsnNotify && r.dsnNotify.length ? r.dsnNotify.join(',') : null,
          r.dsnOrcpt ?? null,
        ],
      );
      return row!.id;
    },
    markDelayReported(id: number, at: number): Promise<boolean> {
      return markDelayReported(pool, id, at);
    },
    forMessage(messageId: string): Promise<RecipientRow[]> {
      return recipientsForMessage(pool, messageId);
    },
    async get(id: number): Promise<RecipientRow | undefined> {
      const r = await one<RawRecipient>(pool, 'SELECT * FROM recipients WHERE id = $1', [id]);
      return r && recipientFromRaw(r);
    },
    /**
     * Claims up to `limit` due recipients for `owner` until `until`, oldest due first. Rows
     * another node is claiming at this instant are skipped (SKIP LOCKED), never waited for or
     * claimed twice. The claim pushes next_attempt_at to the lease's end: if the node dies, the
     * row becomes due again by itself when the lease runs out, and any node claims it.
     */
    async claim(now: number, until: number, owner: string, limit: number): Promise<RecipientRow[]> {
      // Expired leases first (a dead node's in-flight mail, oldest lease first): their
      // next_attempt_at is the lease's end, so in due order they would wait behind all the mail
      // that became due while the node was dying. Then due rows, oldest first.
      const r = await rows<RawRecipient>(
        pool,
        `WITH expired AS (
           SELECT id FROM recipients WHERE lease_owner IS NOT NULL AND lease_until <= $1 AND ${PENDING}
           ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED),
         due AS (
           SELECT id FROM recipients WHERE ${PENDING} AND next_attempt_at <= $1 AND id NOT IN (SELECT id FROM expired)
           ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED),
         pick AS (SELECT id FROM (SELECT id, 0 AS k FROM expired UNION ALL SELECT id, 1 FROM due) x ORDER BY k LIMIT $4)
         UPDATE recipients r SET lease_until = $2, lease_owner = $3, next_attempt_at = $2, wait_reason = NULL
         FROM pick WHERE r.id = pick.id RETURNING r.*`,
        [now, until, owner, limit],
      );
      return r.map((x) => ({ ...recipientFromRaw(x), leaseOwner: owner })).sort((a, b) => a.id - b.id);
    },
    /**
     * Renews the leases `owner` still holds among `ids` until `until`, in one statement. A row
     * another node claimed after this lease ran out names that node and is left alone, as is one
     * whose fate was written or that was released. Rows a fate transaction holds are waited for
     * (row lock): after it commits the row is no longer pending and is not renewed.
     */
    async renew(owner: string, ids: readonly number[], until: number): Promise<number[]> {
      if (ids.length === 0) return [];
      const r = await rows<{ id: number }>(
        pool,
        `UPDATE recipients SET lease_until = $3, next_attempt_at = $3
         WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND ${PENDING} RETURNING id`,
        [ids, owner, until],
      );
      return r.map((x) => Number(x.id));
    },
    async release(id: number, at: number): Promise<void> {
      await pool.query(
        `UPDATE recipients SET lease_until = NULL, lease_owner = NULL, next_attempt_at = $2, wait_reason = NULL WHERE id = $1 AND ${PENDING}`,
        [id, at],
      );
    },
    async releaseMany(items: { id: number; at: number; reason?: string | null }[]): Promise<void> {
      if (!items.length) return;
      await pool.query(
        `UPDATE recipients r SET lease_until = NULL, lease_owner = NULL, next_attempt_at = x.at, wait_reason = x.reason
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS x(id, at, reason) WHERE r.id = x.id AND r.${PENDING}`,
        [items.map((i) => i.id), items.map((i) => i.at), items.map((i) => i.reason ?? null)],
      );
    },
    async wakeHeld(now: number): Promise<number> {
      return changes(
        pool,
        `UPDATE recipients SET next_attempt_at = $1 WHERE ${PENDING} AND next_attempt_at > $1 AND status = 'queued' AND lease_owner IS NULL`,
        [now],
      );
    },
    /** Start-up: whatever this node held when it died is due again now (other nodes' leases untouched). */
    async releaseOwned(owner: string, at: number): Promise<number> {
      return changes(pool, `UPDATE recipients SET lease_until = NULL, lease_owner = NULL, next_attempt_at = $2 WHERE lease_owner = $1 AND ${PENDING}`, [
        owner,
        at,
      ]);
    },
    async overdue(now: number, maxAgeMs: number, limit: number): Promise<RecipientRow[]> {
      return (await overdue(pool, now, maxAgeMs, limit, false)).map(recipientFromRaw);
    },
    async nextDueAt(): Promise<number | null> {
      return (await one<{ t: number | null }>(pool, `SELECT MIN(next_attempt_at) AS t FROM recipients WHERE ${PENDING}`))!.t;
    },
    markComplained(id: number, at: number): Promise<void> {
      return markComplained(pool, id, at);
    },
    changeStatus(id: number, change: StatusChange): Promise<void> {
      return changeRecipientStatus(pool, id, change);
    },
    /** How many recipients each node holds under a live lease (for `ferry nodes`). */
    async leasesByOwner(now: number): Promise<Map<string, number>> {
      const r = await rows<{ owner: string; n: number }>(
        pool,
        `SELECT lease_owner AS owner, count(*)::int AS n FROM recipients WHERE lease_owner IS NOT NULL AND lease_until > $1 AND ${PENDING} GROUP BY 1`,
        [now],
      );
      return new Map(r.map((x) => [x.owner, x.n]));
    },
  };
}

export function overdue(db: Queryable, now: number, maxAgeMs: number, limit: number, lock: boolean): Promise<RawRecipient[]> {
  return rows<RawRecipient>(
    db,
    `SELECT * FROM recipients WHERE ${PENDING} AND created_at <= $1 - $2::bigint
       AND next_attempt_at > created_at + $2::bigint AND COALESCE(lease_until, 0) <= $1
     ORDER BY created_at LIMIT $3${lock ? ' FOR UPDATE SKIP LOCKED' : ''}`,
    [now, maxAgeMs, limit],
  );
}

export type PgRecipients = ReturnType<typeof createPgRecipients>;
