import { relaxedDurability, type Db } from './db.js';
import type { MessageHead, MessageRow, MessageSummary, MessageListFilter } from '../core/store-types.js';
export type { MessageHead, MessageRow, MessageSummary, MessageListFilter } from '../core/store-types.js';

/**
 * Inline bodies of at least this many bytes are kept in message_bodies (migration 020), apart from
 * the messages row: the row stays small, so signing rewrites a few KB instead of the body and the
 * columns after `body` are read without walking its overflow pages; and the signing and delivery
 * threads read such a body themselves (messages.head). Below it (a row that fits a page or two)
 * the body stays in the row: reading and copying it costs less than a second read elsewhere.
 */
export const BODY_APART_MIN_BYTES = 16 * 1024;

/** What messages.body holds when the body is in message_bodies: "held", with its bytes elsewhere. */
const HELD_APART = Buffer.alloc(0);

interface RawRow {
  id: string;
  created_at: number;
  sender: string;
  username: string | null;
  client_ip: string | null;
  helo: string | null;
  tls: string | null;
  size: number;
  headers: Buffer;
  body?: Buffer | null;
  /** head(): 1 when the body is in message_bodies (and was not read) */
  apart?: number;
  spool_file: string | null;
  header_from: string | null;
  message_id_hdr: string | null;
  subject: string | null;
  eight_bit: number;
  smtputf8: number;
  kind: 'submission' | 'dsn' | 'tlsrpt';
  signed_at: number | null;
  dsn_ret: 'FULL' | 'HDRS' | null;
  dsn_envid: string | null;
  list_unsubscribe: number;
  require_tls: number;
}

const SUMMARY_COLUMNS =
  'id, created_at, sender, username, client_ip, helo, tls, size, headers, spool_file, header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, signed_at, dsn_ret, dsn_envid, list_unsubscribe, require_tls';

function fromRaw(r: RawRow): MessageRow {
  return {
    id: r.id,
    createdAt: r.created_at,
    sender: r.sender,
    username: r.username,
    clientIp: r.client_ip,
    helo: r.helo,
    tls: r.tls,
    size: r.size,
    headers: r.headers,
    body: r.body ?? null,
    spoolFile: r.spool_file,
    headerFrom: r.header_from,
    messageIdHeader: r.message_id_hdr,
    subject: r.subject,
    eightBit: r.eight_bit === 1,
    smtputf8: r.smtputf8 === 1,
    kind: r.kind,
    signedAt: r.signed_at,
    dsnRet: r.dsn_ret,
    dsnEnvid: r.dsn_envid,
    listUnsubscribe: r.list_unsubscribe === 1,
    requireTls: r.require_tls === 1,
  };
}

/** The only code that knows the SQL of the `messages` table. */
export function createMessagesRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO messages (id, created_at, sender, username, client_ip, helo, tls, size, headers, body, spool_file,
       header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, dsn_ret, dsn_envid, list_unsubscribe, require_tls)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertBody = db.prepare('INSERT INTO message_bodies (message_id, body) VALUES (?, ?)');
  const mColumns = SUMMARY_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ');
  // The body from whichever holds it: message_bodies (large ones since migration 020), else the row.
  const byId = db.prepare(
    `SELECT ${mColumns}, COALESCE(b.body, m.body) AS body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?`,
  );
  // A body in message_bodies is not read: only its index entry is looked at.
  const headById = db.prepare(
    `SELECT ${mColumns}, CASE WHEN b.message_id IS NULL THEN m.body END AS body, b.message_id IS NOT NULL AS apart
     FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?`,
  );
  const deleteBody = db.prepare('DELETE FROM message_bodies WHERE message_id = ?');
  // A thread can open the file by its name; an in-memory database (tests) cannot be shared.
  const shareable = !db.memory && db.name !== '' && db.name !== ':memory:';
  const get = (id: string): MessageRow | undefined => {
    const r = byId.get(id) as RawRow | undefined;
    return r && fromRaw(r);
  };
  const bodyLost = db.transaction((id: string, at: number): boolean => {
    if (markBodyLost.run({ id, at }).changes !== 1) return false;
    deleteBody.run(id);
    return true;
  });
  const insertRow = (row: Omit<MessageRow, 'signedAt'>, apart: boolean): void => {
    // Positional: binding 21 values by name cost ~1.5 µs more per message (a loop: 3.3 against 1.8 µs).
    insert.run(
      row.id, row.createdAt, row.sender, row.username, row.clientIp, row.helo, row.tls, row.size, row.headers,
      apart ? HELD_APART : row.body, row.spoolFile, row.headerFrom, row.messageIdHeader, row.subject,
      row.eightBit ? 1 : 0, row.smtputf8 ? 1 : 0, row.kind, row.dsnRet ?? null, row.dsnEnvid ?? null,
      row.listUnsubscribe ? 1 : 0, row.requireTls ? 1 : 0,
    );
    if (apart) insertBody.run(row.id, row.body);
  };
  const insertApart = db.transaction((row: Omit<MessageRow, 'signedAt'>) => insertRow(row, true));
  const summaryById = db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM messages WHERE id = ?`);
  const spoolFiles = db.prepare(
    `SELECT m.id, m.spool_file, NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status IN ('queued','deferred')) AS finished
     FROM messages m WHERE m.spool_file IS NOT NULL`,
  );
  // A lost body is reported once: afterwards the row no longer points at the file.
  const markBodyLost = db.prepare('UPDATE messages SET spool_file = NULL, body = NULL, body_lost_at = @at WHERE id = @id AND body_lost_at IS NULL');
  const forgetSpoolFile = db.prepare('UPDATE messages SET spool_file = NULL, body_removed_at = COALESCE(body_removed_at, @at) WHERE id = @id');
  const markSigned = db.prepare(
    'UPDATE messages SET headers = @headers, size = size - length(headers) + length(@headers), signed_at = @at WHERE id = @id AND signed_at IS NULL',
  );
  const signedAt = db.prepare('SELECT signed_at FROM messages WHERE id = ?');

  return {
    /** One row, or two (message_bodies) in one transaction when the body is large. */
    insert(row: Omit<MessageRow, 'signedAt'>): void {
      if (row.body !== null && row.body.length >= BODY_APART_MIN_BYTES) insertApart(row);
      else insertRow(row, false);
    },
    get,
    /** As get(), but a body kept in message_bodies is not read: bodyRef says where a thread finds it. */
    head(id: string): MessageHead | undefined {
      if (!shareable) {
        const m = get(id);
        return m && { ...m, bodyRef: null };
      }
      const r = headById.get(id) as RawRow | undefined;
      if (!r) return undefined;
      const m = fromRaw(r);
      return { ...m, bodyRef: r.apart === 1 ? { db: db.name, id: m.id, bytes: m.size - m.headers.length } : null };
    },
    getSummary(id: string): MessageSummary | undefined {
      const r = summaryById.get(id) as RawRow | undefined;
      if (!r) return undefined;
      const { body: _b, headers: _h, ...rest } = fromRaw(r);
      return rest;
    },
    /** Messages newest first, optionally only those with a recipient matching the filter. */
    list(filter: MessageListFilter): MessageSummary[] {
      const { where, params } = listConditions(filter);
      const sql = `SELECT ${SUMMARY_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')} FROM messages m
        ${where} ORDER BY m.created_at DESC, m.id DESC LIMIT ?`;
      return (db.prepare(sql).all(...params, filter.limit) as RawRow[]).map((r) => {
        const { body: _b, headers: _h, ...rest } = fromRaw(r);
        return rest;
      });
    },
    /** How many messages match the filter, counting no further than `cap` + 1. */
    count(filter: Omit<MessageListFilter, 'limit'>, cap: number): number {
      const { where, params } = listConditions(filter);
      return (db.prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM messages m ${where} LIMIT ?)`).get(...params, cap + 1) as { n: number }).n;
    },
    /** (id, file) of every message whose body is a spool file; finished: no recipient can be delivered again. */
    spoolFiles(): { id: string; file: string; finished: boolean }[] {
      return (spoolFiles.all() as { id: string; spool_file: string; finished: number }[]).map((r) => ({ id: r.id, file: r.spool_file, finished: r.finished === 1 }));
    },
    /** The body was found missing and has been reported: stop referring to it. false if already marked. */
    markBodyLost(id: string, at: number): boolean {
      return bodyLost(id, at);
    },
    /** A finished message's spool file is gone (removed by retention before a crash): drop the reference quietly. */
    forgetSpoolFile(id: string, at: number): void {
      forgetSpoolFile.run({ id, at });
    },
    /**
     * Stores the signed header block, once: signing prepends its signature here, never to the
     * body, so even a 25 MB message is signed by rewriting a few KB (a large inline body is in
     * message_bodies, not in this row: migration 020). false if already signed.
     */
    markSigned(id: string, headers: Buffer, at: number): boolean {
      return relaxedDurability(db, () => markSigned.run({ id, headers, at }).changes === 1);
    },
    /** null until the message has been prepared for its first delivery. */
    signedAt(id: string): number | null {
      return (signedAt.get(id) as { signed_at: number | null } | undefined)?.signed_at ?? null;
    },
  };
}

function listConditions(filter: Omit<MessageListFilter, 'limit'>): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since !== undefined) {
    where.push('m.created_at >= ?');
    params.push(filter.since);
  }
  if (filter.before) {
    where.push('(m.created_at < ? OR (m.created_at = ? AND m.id < ?))');
    params.push(filter.before.createdAt, filter.before.createdAt, filter.before.id);
  }
  if (filter.status || filter.recipient) {
    const sub: string[] = ['r.message_id = m.id'];
    if (filter.status) {
      sub.push('r.status = ?');
      params.push(filter.status);
    }
    if (filter.recipient) {
      sub.push('r.address = ?');
      params.push(filter.recipient.toLowerCase());
    }
    where.push(`EXISTS (SELECT 1 FROM recipients r WHERE ${sub.join(' AND ')})`);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

export type MessagesRepo = ReturnType<typeof createMessagesRepo>;
