import type { Db } from './db.js';
import type { AttemptRow } from '../core/store-types.js';
import type { RecentTlsRow } from '../core/tls-store-types.js';
export type { AttemptRow } from '../core/store-types.js';
export type { RecentTlsRow } from '../core/tls-store-types.js';

interface RawAttempt {
  id: number;
  recipient_id: number;
  message_id: string;
  at: number;
  duration_ms: number | null;
  result: AttemptRow['result'];
  phase: string | null;
  mx_host: string | null;
  ip: string | null;
  port: number | null;
  tls_protocol: string | null;
  tls_cipher: string | null;
  tls_verified: number | null;
  tls_policy: string | null;
  tls_result: string | null;
  code: number | null;
  enhanced: string | null;
  reply: string | null;
  rcpt_reply: string | null;
  error_kind: string | null;
  error: string | null;
  category: string | null;
  rule: string | null;
  hops: string | null;
}


interface RawRecentTls {
  at: number;
  result: AttemptRow['result'];
  mx_host: string | null;
  ip: string | null;
  tls_protocol: string | null;
  tls_cipher: string | null;
  tls_verified: number | null;
  tls_policy: string | null;
  tls_result: string | null;
}

/** The only code that knows the SQL of the `attempts` table: one row per recipient per try. */
export function createAttemptsRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO attempts (recipient_id, message_id, at, duration_ms, result, phase, mx_host, ip, port, tls_protocol, tls_cipher,
       tls_verified, tls_policy, tls_result, code, enhanced, reply, rcpt_reply, error_kind, error, category, rule, hops)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Through the message's recipients (recipients_message, then attempts_recipient): no index of
  // attempts by message, one fewer write per attempt (migration 021).
  const byMessage = db.prepare(
    'SELECT a.* FROM recipients r JOIN attempts a ON a.recipient_id = r.id WHERE r.message_id = ? ORDER BY a.id',
  );
  // `ferry tls check`: the latest attempts to a recipient domain, with their TLS outcome
  const recentTls = db.prepare(
    `SELECT a.at, a.result, a.mx_host, a.ip, a.tls_protocol, a.tls_cipher, a.tls_verified, a.tls_policy, a.tls_result
       FROM attempts a JOIN recipients r ON r.id = a.recipient_id
      WHERE r.domain = ? ORDER BY a.id DESC LIMIT ?`,
  );
  // The first attempt of the latest unbroken run of one category (anything else breaks it).
  const streakStart = db
    .prepare(
      `SELECT min(at) FROM attempts WHERE recipient_id = @id AND category = @category
         AND id > coalesce((SELECT max(id) FROM attempts WHERE recipient_id = @id AND (category IS NULL OR category <> @category)), 0)`,
    )
    .pluck();

  return {
    insert(a: AttemptRow): void {
      // Positional: one per delivery attempt, 23 values (binding by name costs ~0.07 µs a value).
      insert.run(
        a.recipientId, a.messageId, a.at, a.durationMs, a.result, a.phase, a.mxHost, a.ip, a.port, a.tlsProtocol, a.tlsCipher,
        a.tlsVerified === undefined || a.tlsVerified === null ? null : a.tlsVerified ? 1 : 0,
        a.tlsPolicy ?? null, a.tlsResult ?? null, a.code, a.enhanced, a.reply, a.rcptReply ?? null, a.errorKind, a.error,
        a.category, a.rule, a.hops ? JSON.stringify(a.hops) : null,
      );
    },
    /** When the recipient's latest unbroken run of attempts in `category` began; null if its last attempt was not one. */
    streakSince(recipientId: number, category: string): number | null {
      return (streakStart.get({ id: recipientId, category }) as number | null) ?? null;
    },
    recentTls(domain: string, limit: number): RecentTlsRow[] {
      return (recentTls.all(domain.toLowerCase(), limit) as RawRecentTls[]).map((r) => ({
        at: r.at,
        result: r.result,
        mxHost: r.mx_host,
        ip: r.ip,
        tlsProtocol: r.tls_protocol,
        tlsCipher: r.tls_cipher,
        tlsVerified: r.tls_verified === null ? null : r.tls_verified === 1,
        tlsPolicy: r.tls_policy,
        tlsResult: r.tls_result,
      }));
    },
    forMessage(messageId: string): AttemptRow[] {
      return (byMessage.all(messageId) as RawAttempt[]).map((r) => ({
        id: r.id,
        recipientId: r.recipient_id,
        messageId: r.message_id,
        at: r.at,
        durationMs: r.duration_ms,
        result: r.result,
        phase: r.phase,
        mxHost: r.mx_host,
        ip: r.ip,
        port: r.port,
        tlsProtocol: r.tls_protocol,
        tlsCipher: r.tls_cipher,
        tlsVerified: r.tls_verified === null ? null : r.tls_verified === 1,
        tlsPolicy: r.tls_policy,
        tlsResult: r.tls_result,
        code: r.code,
        enhanced: r.enhanced,
        reply: r.reply,
        rcptReply: r.rcpt_reply,
        errorKind: r.error_kind,
        error: r.error,
        category: r.category,
        rule: r.rule,
        hops: r.hops ? (JSON.parse(r.hops) as unknown[]) : null,
      }));
    },
  };
}

export type AttemptsRepo = ReturnType<typeof createAttemptsRepo>;
