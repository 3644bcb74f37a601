import type { RecipientRow } from '../core/store-types.js';
import type { RecipientStatus } from '../core/types.js';

/**
 * A `recipients` row as both engines select it (`SELECT *`: the same column names in SQLite and
 * PostgreSQL), and how it becomes the Store's RecipientRow. Each engine (src/store/recipients-repo.ts
 * for SQLite, postgres/recipients.ts) only writes the SQL.
 */
export interface RawRecipient {
  id: number;
  message_id: string;
  address: string;
  domain: string;
  status: RecipientStatus;
  attempts: number;
  next_attempt_at: number | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
  last_code: number | null;
  last_enhanced: string | null;
  last_reply: string | null;
  category: string | null;
  mx_host: string | null;
  remote_ip: string | null;
  tls_protocol: string | null;
  tls_cipher: string | null;
  dsn_notify?: string | null;
  dsn_orcpt?: string | null;
  dsn_delay_at?: number | null;
  wait_reason?: string | null;
  complained_at?: number | null;
}

export function recipientFromRaw(r: RawRecipient): RecipientRow {
  return {
    id: r.id,
    messageId: r.message_id,
    address: r.address,
    domain: r.domain,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leaseUntil: r.lease_until,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...lastReplyFromRaw(r),
    remoteIp: r.remote_ip,
    tlsProtocol: r.tls_protocol,
    tlsCipher: r.tls_cipher,
    dsnNotify: r.dsn_notify ? r.dsn_notify.split(',') : null,
    dsnOrcpt: r.dsn_orcpt ?? null,
    dsnDelayAt: r.dsn_delay_at ?? null,
    waitReason: r.wait_reason ?? null,
    complainedAt: r.complained_at ?? null,
  };
}

/** The recipient's last reply and why it waits or failed, as the Store names them (also on a console hit). */
export function lastReplyFromRaw(r: Pick<RawRecipient, 'last_code' | 'last_enhanced' | 'last_reply' | 'category' | 'mx_host'>) {
  return { lastCode: r.last_code, lastEnhanced: r.last_enhanced, lastReply: r.last_reply, category: r.category, mxHost: r.mx_host };
}
