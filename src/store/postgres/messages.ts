import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { MessageHead, MessageListFilter, MessageRow, MessageSummary } from '../messages-repo.js';
import { changes, one, Params, rows, type Queryable } from './sql.js';
import { inTransaction, type PgPool } from './pool.js';

/** Bodies are stored and streamed in chunks of this size: a 10 MB body is 40 rows, never one buffer. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks read per query when streaming a body out. */
const CHUNKS_PER_READ = 4;

export interface RawMessage {
  id: string;
  created_at: number;
  sender: string;
  username: string | null;
  client_ip: string | null;
  helo: string | null;
  tls: string | null;
  size: number;
  headers: Buffer;
  body_bytes: number;
  has_body: boolean;
  header_from: string | null;
  message_id_hdr: string | null;
  subject: string | null;
  eight_bit: boolean;
  smtputf8: boolean;
  kind: MessageRow['kind'];
  signed_at: number | null;
  dsn_ret: 'FULL' | 'HDRS' | null;
  dsn_envid: string | null;
  list_unsubscribe: boolean;
  require_tls: boolean;
}

export const MESSAGE_COLUMNS =
  'id, created_at, sender, username, client_ip, helo, tls, size, headers, body_bytes, has_body, header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, signed_at, dsn_ret, dsn_envid, list_unsubscribe, require_tls';

export function summaryFromRaw(r: RawMessage): MessageSummary {
  return {
    id: r.id,
    createdAt: r.created_at,
    sender: r.sender,
    username: r.username,
    clientIp: r.client_ip,
    helo: r.helo,
    tls: r.tls,
    size: r.size,
    // Bodies live in message_chunks on every node: there is never a node-local spool file.
    spoolFile: null,
    headerFrom: r.header_from,
    messageIdHeader: r.message_id_hdr,
    subject: r.subject,
    eightBit: r.eight_bit,
    smtputf8: r.smtputf8,
    kind: r.kind,
    signedAt: r.signed_at,
    dsnRet: r.dsn_ret,
    dsnEnvid: r.dsn_envid,
    listUnsubscribe: r.list_unsubscribe,
    requireTls: r.require_tls,
  };
}

/** Inserts a body given in memory as chunk rows (one statement). */
export async function insertBodyChunks(db: Queryable, messageId: string, body: Buffer): Promise<void> {
  if (body.length === 0) return;
  const ids: string[] = [];
  const seqs: number[] = [];
  const data: Buffer[] = [];
  for (let off = 0, seq = 0; off < body.length; off += CHUNK_BYTES, seq++) {
    ids.push(messageId);
    seqs.push(seq);
    data.push(body.subarray(off, off + CHUNK_BYTES));
  }
  await db.query('INSERT INTO message_chunks (message_id, seq, data) SELECT * FROM unnest($1::text[], $2::int[], $3::bytea[])', [ids, seqs, data]);
}

/** Streams a body from a file (a node-local spool file at intake) into chunk rows, one chunk in memory at a time. */
export async function streamFileToChunks(db: Queryable, messageId: string, file: string): Promise<number> {
  let seq = 0;
  let total = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
    const buf = chunk as Buffer;
    await db.query('INSERT INTO message_chunks (message_id, seq, data) VALUES ($1, $2, $3)', [messageId, seq++, buf]);
    total += buf.length;
  }
  return total;
}

/** The `messages` group: the same methods as src/store/messages-repo.ts, asynchronous, plus bodies. */
/** The body was found missing and has been reported: stop referring to it (its chunks go). false if already marked. */
export async function markBodyLost(db: Queryable, id: string, at: number): Promise<boolean> {
  const n = await changes(db, 'UPDATE messages SET has_body = false, body_lost_at = $2 WHERE id = $1 AND body_lost_at IS NULL', [id, at]);
  if (n === 1) await db.query('DELETE FROM message_chunks WHERE message_id = $1', [id]);
  return n === 1;
}

export function createPgMessages(pool: PgPool, nodeName: string | null = null) {
  async function readBody(id: string): Promise<Buffer> {
    const r = await rows<{ data: Buffer }>(pool, 'SELECT data FROM message_chunks WHERE message_id = $1 ORDER BY seq', [id]);
    return Buffer.concat(r.map((c) => c.data));
  }

  const api = {
    /** One message without recipients (intake uses queue.accept); its body is copied into chunks, from memory or its spool file. */
    async insert(x: Omit<MessageRow, 'signedAt'>): Promise<void> {
      await inTransaction(pool, async (c) => {
        await c.query(
          `INSERT INTO messages (id, created_at, sender, username, client_ip, helo, tls, size, headers, body_bytes, has_body,
             header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, dsn_ret, dsn_envid, list_unsubscribe, require_tls, accepted_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
          [
            x.id, x.createdAt, x.sender, x.username, x.clientIp, x.helo, x.tls, x.size, x.headers, x.size - x.headers.length,
            x.body !== null || x.spoolFile !== null, x.headerFrom, x.messageIdHeader, x.subject, x.eightBit, x.smtputf8, x.kind,
            x.dsnRet ?? null, x.dsnEnvid ?? null, x.listUnsubscribe ?? false, x.requireTls ?? false, nodeName,
          ],
        );
        if (x.body && x.body.length > 0) await insertBodyChunks(c, x.id, Buffer.from(x.body));
        else if (x.spoolFile) await streamFileToChunks(c, x.id, x.spoolFile);
      });
    },
    /**
     * The message; `body` is filled when the body fits in one chunk (≤ 256 KB), else null: read
     * larger bodies with openBody(). `spoolFile` is always null (bodies live in the database).
     */
    async get(id: string): Promise<MessageRow | undefined> {
      const r = await one<RawMessage>(pool, `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`, [id]);
      if (!r) return undefined;
      const small = r.has_body && r.body_bytes <= CHUNK_BYTES;
      return { ...summaryFromRaw(r), headers: r.headers, body: small ? await readBody(id) : null };
    },
    /** As get(): every node reads bodies from the database here, so there is no reference to hand a thread. */
    async head(id: string): Promise<MessageHead | undefined> {
      const m = await api.get(id);
      return m && { ...m, bodyRef: null };
    },
    async getSummary(id: string): Promise<MessageSummary | undefined> {
      const r = await one<RawMessage>(pool, `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`, [id]);
      return r && summaryFromRaw(r);
    },
    /** Whether the message's body is still held, and its length. */
    async bodyInfo(id: string): Promise<{ held: boolean; bytes: number } | undefined> {
      const r = await one<{ has_body: boolean; body_bytes: number }>(pool, 'SELECT has_body, body_bytes FROM messages WHERE id = $1', [id]);
      return r && { held: r.has_body, bytes: r.body_bytes };
    },
    /**
     * The body as a stream, read a few chunks per query as the consumer pulls (back-pressure:
     * at most CHUNKS_PER_READ chunks in memory). Ends early (with an error) if the body vanished.
     */
    openBody(id: string): Readable {
      let next = 0;
      let done = false;
      return new Readable({
        highWaterMark: CHUNK_BYTES,
        read() {
          if (done) return;
          rows<{ seq: number; data: Buffer }>(
            pool,
            'SELECT seq, data FROM message_chunks WHERE message_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3',
            [id, next, CHUNKS_PER_READ],
          ).then(
            (chunks) => {
              for (const c of chunks) {
                next = c.seq + 1;
                this.push(c.data);
              }
              if (chunks.length < CHUNKS_PER_READ) {
                done = true;
                this.push(null);
              }
            },
            (err: Error) => this.destroy(err),
          );
        },
      });
    },
    async list(filter: MessageListFilter): Promise<MessageSummary[]> {
      const p = new Params();
      const where = listConditions(filter, p);
      const cols = MESSAGE_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ');
      const r = await rows<RawMessage>(pool, `SELECT ${cols} FROM messages m ${where} ORDER BY m.created_at DESC, m.id DESC LIMIT ${p.add(filter.limit)}`, p.values);
      return r.map(summaryFromRaw);
    },
    async count(filter: Omit<MessageListFilter, 'limit'>, cap: number): Promise<number> {
      const p = new Params();
      const where = listConditions(filter, p);
      const r = await one<{ n: number }>(pool, `SELECT COUNT(*)::int AS n FROM (SELECT 1 FROM messages m ${where} LIMIT ${p.add(cap + 1)}) x`, p.values);
      return r!.n;
    },
    /** No spool files in this engine: bodies are rows. Kept so callers of the SQLite repo need no branch. */
    async spoolFiles(): Promise<{ id: string; file: string; finished: boolean }[]> {
      return [];
    },
    async markBodyLost(id: string, at: number): Promise<boolean> {
      return inTransaction(pool, (c) => markBodyLost(c, id, at));
    },
    async forgetSpoolFile(_id: string, _at: number): Promise<void> {
      /* no spool files in this engine */
    },
    async markSigned(id: string, headers: Buffer, at: number): Promise<boolean> {
      return (
        (await changes(
          pool,
          'UPDATE messages SET headers = $2, size = size - length(headers) + length($2::bytea), signed_at = $3 WHERE id = $1 AND signed_at IS NULL',
          [id, headers, at],
        )) === 1
      );
    },
    async signedAt(id: string): Promise<number | null> {
      return (await one<{ signed_at: number | null }>(pool, 'SELECT signed_at FROM messages WHERE id = $1', [id]))?.signed_at ?? null;
    },
  };
  return api;
}

function listConditions(filter: Omit<MessageListFilter, 'limit'>, p: Params): string {
  const where: string[] = [];
  if (filter.since !== undefined) where.push(`m.created_at >= ${p.add(filter.since)}`);
  if (filter.before) {
    const at = p.add(filter.before.createdAt);
    where.push(`(m.created_at < ${at} OR (m.created_at = ${at} AND m.id < ${p.add(filter.before.id)}))`);
  }
  if (filter.status || filter.recipient) {
    const sub: string[] = ['r.message_id = m.id'];
    if (filter.status) sub.push(`r.status = ${p.add(filter.status)}`);
    if (filter.recipient) sub.push(`r.address = ${p.add(filter.recipient.toLowerCase())}`);
    where.push(`EXISTS (SELECT 1 FROM recipients r WHERE ${sub.join(' AND ')})`);
  }
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

export type PgMessages = ReturnType<typeof createPgMessages>;
