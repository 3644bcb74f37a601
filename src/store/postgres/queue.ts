import type { AcceptedMessage } from '../queue-store.js';
import type { RecipientRow } from '../recipients-repo.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';
import { appendEvent } from './events.js';
import { changeRecipientStatus, overdue, recipientFromRaw, recipientsForMessage } from './recipients.js';
import { Params } from './sql.js';
import { CHUNK_BYTES, insertBodyChunks, streamFileToChunks } from './messages.js';

export interface QueueOptions {
  /** This node's name, recorded on each message it accepted (for `ferry messages show`). */
  nodeName: string;
  /** Accepts per commit at most. */
  maxBatch?: number;
}

/**
 * One INSERT … SELECT per table for the whole batch, as data-modifying CTEs of ONE statement:
 * messages, the bodies that fit one chunk, recipients in the order given and their first events.
 * Sent alone it is its own transaction: one round trip and one WAL flush for the batch (the
 * foreign keys are checked at the end of the statement, when every row is there).
 */
function batchStatement(batch: AcceptedMessage[], nodeName: string): { text: string; values: unknown[] } {
  const p = new Params();
  const m = batch.map((b) => b.message);
  const arr = (values: unknown[], type: string) => `${p.add(values)}::${type}[]`;
  const messages = `INSERT INTO messages (id, created_at, sender, username, client_ip, helo, tls, size, headers, body_bytes, has_body,
       header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, dsn_ret, dsn_envid, list_unsubscribe, accepted_by)
     SELECT *, ${p.add(nodeName)}::text FROM unnest(${[
       arr(m.map((x) => x.id), 'text'),
       arr(m.map((x) => x.createdAt), 'bigint'),
       arr(m.map((x) => x.sender), 'text'),
       arr(m.map((x) => x.username), 'text'),
       arr(m.map((x) => x.clientIp), 'text'),
       arr(m.map((x) => x.helo), 'text'),
       arr(m.map((x) => x.tls), 'text'),
       arr(m.map((x) => x.size), 'bigint'),
       arr(m.map((x) => x.headers), 'bytea'),
       arr(m.map((x) => x.size - x.headers.length), 'bigint'),
       arr(m.map((x) => x.body !== null || x.spoolFile !== null), 'boolean'),
       arr(m.map((x) => x.headerFrom), 'text'),
       arr(m.map((x) => x.messageIdHeader), 'text'),
       arr(m.map((x) => x.subject), 'text'),
       arr(m.map((x) => x.eightBit), 'boolean'),
       arr(m.map((x) => x.smtputf8), 'boolean'),
       arr(m.map((x) => x.kind), 'text'),
       arr(m.map((x) => x.dsnRet ?? null), 'text'),
       arr(m.map((x) => x.dsnEnvid ?? null), 'text'),
       arr(m.map((x) => x.listUnsubscribe ?? false), 'boolean'),
     ].join(', ')})`;
  const small = m.filter((x) => x.body && x.body.length > 0 && x.body.length <= CHUNK_BYTES);
  const chunks = `INSERT INTO message_chunks (message_id, seq, data)
     SELECT id, 0, data FROM unnest(${arr(small.map((x) => x.id), 'text')}, ${arr(small.map((x) => x.body), 'bytea')}) AS x(id, data)`;
  const r = batch.flatMap((b) => b.recipients.map((rcpt) => ({ ...rcpt, messageId: b.message.id, at: b.message.createdAt })));
  const input = `SELECT * FROM unnest(${[
    arr(r.map((x) => x.messageId), 'text'),
    arr(r.map((x) => x.address), 'text'),
    arr(r.map((x) => x.domain), 'text'),
    arr(r.map((x) => x.status), 'text'),
    arr(r.map((x) => x.at), 'bigint'),
    arr(r.map((x) => x.reason), 'text'),
    arr(r.map((x) => x.category), 'text'),
    arr(r.map((x) => (x.dsnNotify && x.dsnNotify.length ? x.dsnNotify.join(',') : null)), 'text'),
    arr(r.map((x) => x.dsnOrcpt ?? null), 'text'),
  ].join(', ')}) WITH ORDINALITY AS x(message_id, address, domain, status, at, reason, category, notify, orcpt, ord)`;
  const text = `WITH m AS (${messages} RETURNING 1),
     ch AS (${chunks} RETURNING 1),
     input AS (${input}),
     ins AS (
       INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, created_at, updated_at, last_reply, category, dsn_notify, dsn_orcpt)
       SELECT message_id, address, domain, status, CASE WHEN status = 'queued' THEN at END, at, at, reason, category, notify, orcpt
       FROM input ORDER BY ord
       RETURNING id, message_id, address, status, category, created_at, last_reply),
     ev AS (
       INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
       SELECT created_at, message_id, id, address, status, status, category,
              CASE WHEN last_reply IS NOT NULL THEN json_build_object('reason', last_reply)::text END
       FROM ins ORDER BY id RETURNING 1)
   SELECT (SELECT count(*) FROM m)::int AS messages`;
  return { text, values: p.values };
}

/** Whether a message's body must be streamed into chunks by its own statements (large, or in a spool file). */
const needsStreaming = (a: AcceptedMessage) => (a.message.body ? a.message.body.length > CHUNK_BYTES : a.message.spoolFile !== null);

/**
 * Writes a batch. Small bodies only: one statement, its own transaction. Otherwise the same
 * statement inside a transaction, followed by the large bodies streamed into chunks one chunk
 * at a time (a 10 MB message is never in memory), committed together.
 */
async function writeBatch(pool: PgPool, batch: AcceptedMessage[], nodeName: string): Promise<void> {
  const stmt = batchStatement(batch, nodeName);
  const large = batch.filter(needsStreaming);
  if (!large.length) {
    await pool.query(stmt.text, stmt.values);
    return;
  }
  await inTransaction(pool, async (c: PgClient) => {
    await c.query(stmt.text, stmt.values);
    for (const { message: x } of large) {
      if (x.body) await insertBodyChunks(c, x.id, x.body);
      else if (x.spoolFile) await streamFileToChunks(c, x.id, x.spoolFile);
    }
  });
}

/**
 * Group commit over the network: accepts that arrive while a commit is in flight wait for the
 * next one, which takes them all (up to maxBatch). One COMMIT (one WAL flush on the server,
 * synchronous_commit on) covers the batch; each caller's promise resolves only after it, so the
 * 250 follows durability. A failing batch is retried one message at a time so one bad message
 * cannot fail its neighbours.
 */
export function createPgQueue(pool: PgPool, opts: QueueOptions) {
  const maxBatch = opts.maxBatch ?? 256;
  let waiting: { item: AcceptedMessage; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let inFlight = false;
  let commits = 0;

  async function commitOne(batch: typeof waiting): Promise<void> {
    try {
      await writeBatch(pool, batch.map((b) => b.item), opts.nodeName);
      commits++;
      for (const b of batch) b.resolve();
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const b of batch) await commitOne([b]);
    }
  }

  function pump(): void {
    if (inFlight || waiting.length === 0) return;
    inFlight = true;
    const batch = waiting.slice(0, maxBatch);
    waiting = waiting.slice(batch.length);
    void commitOne(batch).finally(() => {
      inFlight = false;
      pump();
    });
  }

  return {
    /**
     * Resolves once every message of the batch, its recipients and events are committed
     * (durable): then say 250. Batches from concurrent callers share commits.
     */
    async accept(batch: AcceptedMessage[]): Promise<void> {
      // A large body streams into chunks in its own transaction, beside the group commits: a
      // 10 MB message must not hold the small ones queued behind it for the seconds it takes.
      const done = batch.map((item) =>
        needsStreaming(item)
          ? writeBatch(pool, [item], opts.nodeName)
          : new Promise<void>((resolve, reject) => waiting.push({ item, resolve, reject })),
      );
      pump();
      await Promise.all(done);
    },
    /** Commits done and accepts waiting: for metrics and the bench. */
    stats(): { commits: number; waiting: number } {
      return { commits, waiting: waiting.length };
    },
    async expireMessage(messageId: string, at: number, reason: string): Promise<RecipientRow[]> {
      return inTransaction(pool, async (c) => {
        const expired: RecipientRow[] = [];
        for (const r of await recipientsForMessage(c, messageId, true)) {
          if (r.status !== 'queued' && r.status !== 'deferred') continue;
          await changeRecipientStatus(c, r.id, { status: 'expired', at, nextAttemptAt: null, attempted: false, reply: reason, category: 'other' });
          await appendEvent(c, { at, messageId, recipientId: r.id, recipient: r.address, type: 'expired', status: 'expired', category: 'other', detail: { reason } });
          expired.push(r);
        }
        return expired;
      });
    },
    /** Rows locked by another node's expiry at the same moment are skipped (SKIP LOCKED), never expired twice. */
    async expireOverdue(now: number, maxAgeMs: number, limit: number, reason: string): Promise<RecipientRow[]> {
      return inTransaction(pool, async (c) => {
        const rowsDue = (await overdue(c, now, maxAgeMs, limit, true)).map(recipientFromRaw);
        for (const r of rowsDue) {
          await changeRecipientStatus(c, r.id, { status: 'expired', at: now, nextAttemptAt: null, attempted: false, reply: r.lastReply ? null : reason });
          await appendEvent(c, { at: now, messageId: r.messageId, recipientId: r.id, recipient: r.address, type: 'expired', status: 'expired', category: r.category, detail: { reason } });
        }
        return rowsDue;
      });
    },
  };
}

export type PgQueue = ReturnType<typeof createPgQueue>;
