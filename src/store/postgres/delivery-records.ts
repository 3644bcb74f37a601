import type { AttemptRow, RecentTlsRow } from '../attempts-repo.js';
import type { DsnOutboxRow } from '../dsn-outbox-repo.js';
import { one, rows, type Queryable } from './sql.js';
import type { PgPool } from './pool.js';

/** Inserts one attempt, on a pool or inside the caller's transaction (a fate). */
export async function insertAttempt(db: Queryable, a: AttemptRow): Promise<void> {
  await db.query(
    `INSERT INTO attempts (recipient_id, message_id, at, duration_ms, result, phase, mx_host, ip, port, tls_protocol, tls_cipher,
       code, enhanced, reply, rcpt_reply, error_kind, error, category, rule, hops, tls_verified, tls_policy, tls_result)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
    [
      a.recipientId,
      a.messageId,
      a.at,
      a.durationMs,
      a.result,
      a.phase,
      a.mxHost,
      a.ip,
      a.port,
      a.tlsProtocol,
      a.tlsCipher,
      a.code,
      a.enhanced,
      a.reply,
      a.rcptReply ?? null,
      a.errorKind,
      a.error,
      a.category,
      a.rule,
      a.hops ? JSON.stringify(a.hops) : null,
      a.tlsVerified ?? null,
      a.tlsPolicy ?? null,
      a.tlsResult ?? null,
    ],
  );
}

/** Delivery attempts (src/store/attempts-repo.ts). */
export function createPgAttempts(pool: PgPool) {
  return {
    insert: (a: AttemptRow) => insertAttempt(pool, a),
    async streakSince(recipientId: number, category: string): Promise<number | null> {
      const r = await one<{ t: number | null }>(
        pool,
        `SELECT min(at) AS t FROM attempts WHERE recipient_id = $1 AND category = $2
           AND id > coalesce((SELECT max(id) FROM attempts WHERE recipient_id = $1 AND (category IS NULL OR category <> $2)), 0)`,
        [recipientId, category],
      );
      return r?.t ?? null;
    },
    async recentTls(domain: string, limit: number): Promise<RecentTlsRow[]> {
      const r = await rows<Record<string, unknown>>(
        pool,
        `SELECT a.at, a.result, a.mx_host, a.ip, a.tls_protocol, a.tls_cipher, a.tls_verified, a.tls_policy, a.tls_result
           FROM attempts a JOIN recipients r ON r.id = a.recipient_id
          WHERE r.domain = $1 ORDER BY a.id DESC LIMIT $2`,
        [domain.toLowerCase(), limit],
      );
      return r.map((x) => ({
        at: x.at as number,
        result: x.result as AttemptRow['result'],
        mxHost: x.mx_host as string | null,
        ip: x.ip as string | null,
        tlsProtocol: x.tls_protocol as string | null,
        tlsCipher: x.tls_cipher as string | null,
        tlsVerified: x.tls_verified as boolean | null,
        tlsPolicy: x.tls_policy as string | null,
        tlsResult: x.tls_result as string | null,
      }));
    },
    async forMessage(messageId: string): Promise<AttemptRow[]> {
      const r = await rows<Record<string, unknown>>(pool, 'SELECT * FROM attempts WHERE message_id = $1 ORDER BY id', [messageId]);
      return r.map((x) => ({
        id: x.id as number,
        recipientId: x.recipient_id as number,
        messageId: x.message_id as string,
        at: x.at as number,
        durationMs: x.duration_ms as number | null,
        result: x.result as AttemptRow['result'],
        phase: x.phase as string | null,
        mxHost: x.mx_host as string | null,
        ip: x.ip as string | null,
        port: x.port as number | null,
        tlsProtocol: x.tls_protocol as string | null,
        tlsCipher: x.tls_cipher as string | null,
        tlsVerified: x.tls_verified as boolean | null,
        tlsPolicy: x.tls_policy as string | null,
        tlsResult: x.tls_result as string | null,
        code: x.code as number | null,
        enhanced: x.enhanced as string | null,
        reply: x.reply as string | null,
        rcptReply: x.rcpt_reply as string | null,
        errorKind: x.error_kind as string | null,
        error: x.error as string | null,
        category: x.category as string | null,
        rule: x.rule as string | null,
        hops: x.hops ? (JSON.parse(x.hops as string) as unknown[]) : null,
      }));
    },
  };
}

/** Adds a DSN outbox entry on a pool or inside the caller's transaction. */
export async function addDsn(db: Queryable, messageId: string, recipients: unknown[], at: number): Promise<number> {
  return (await one<{ id: number }>(db, 'INSERT INTO dsn_outbox (message_id, recipients, created_at) VALUES ($1, $2, $3) RETURNING id', [
    messageId,
    JSON.stringify(recipients),
    at,
  ]))!.id;
}

/** DSNs due but not yet queued (src/store/dsn-outbox-repo.ts). */
export function createPgDsnOutbox<R>(pool: PgPool) {
  return {
    add: (messageId: string, recipients: R[], at: number) => addDsn(pool, messageId, recipients, at),
    async list(afterId: number, limit: number): Promise<DsnOutboxRow<R>[]> {
      const r = await rows<{ id: number; message_id: string; recipients: string; created_at: number }>(
        pool,
        'SELECT id, message_id, recipients, created_at FROM dsn_outbox WHERE id > $1 ORDER BY id LIMIT $2',
        [afterId, limit],
      );
      return r.map((x) => ({ id: x.id, messageId: x.message_id, recipients: JSON.parse(x.recipients) as R[], createdAt: x.created_at }));
    },
    async remove(id: number): Promise<void> {
      await pool.query('DELETE FROM dsn_outbox WHERE id = $1', [id]);
    },
    async count(): Promise<number> {
      return (await one<{ n: number }>(pool, 'SELECT count(*)::int AS n FROM dsn_outbox'))!.n;
    },
  };
}
