import type { AcceptedMessage } from '../queue-store.js';
import type { RecipientRow } from '../recipients-repo.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';
import { appendEvent } from './events.js';
import { changeRecipientStatus, overdue, recipientFromRaw, recipientsForMessage } from './recipients.js';
import { CHUNK_BYTES, insertBodyChunks, streamFileToChunks } from './messages.js';

export interface QueueOptions {
  /** This node's name, recorded on each message it accepted (for `ferry messages show`). */
  nodeName: string;
  /** Accepts per commit at most. */
  maxBatch?: number;
}

/**
 * Writes a batch of accepted messages (rows, body chunks, recipients and their events) on one
 * connection inside its transaction. Small bodies go in one statement with the batch; a body in
 * a spool file is streamed into chunks one chunk at a time (a 10 MB message is never in memory).
 */
async function writeBatch(c: PgClient, batch: AcceptedMessage[], nodeName: string): Promise<void> {
  const m = batch.map((b) => b.message);
  await c.query(
    `INSERT INTO messages (id, created_at, sender, username, client_ip, helo, tls, size, headers, body_bytes, has_body,
       header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, dsn_ret, dsn_envid, list_unsubscribe, accepted_by)
     SELECT *, $20::text FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
       $9::bytea[], $10::bigint[], $11::boolean[], $12::text[], $13::text[], $14::text[], $15::boolean[], $16::boolean[], $17::text[],
       $18::text[], $19::text[], $21::boolean[])`,
    [
      m.map((x) => x.id),
      m.map((x) => x.createdAt),
      m.map((x) => x.sender),
      m.map((x) => x.username),
      m.map((x) => x.clientIp),
      m.map((x) => x.helo),
      m.map((x) => x.tls),
      m.map((x) => x.size),
      m.map((x) => x.headers),
      m.map((x) => x.size - x.headers.length),
      m.map((x) => x.body !== null || x.spoolFile !== null),
      m.map((x) => x.headerFrom),
      m.map((x) => x.messageIdHeader),
      m.map((x) => x.subject),
      m.map((x) => x.eightBit),
      m.map((x) => x.smtputf8),
      m.map((x) => x.kind),
      m.map((x) => x.dsnRet ?? null),
      m.map((x) => x.dsnEnvid ?? null),
      nodeName,
      m.map((x) => x.listUnsubscribe ?? false),
    ],
  );
  // Bodies given in memory that fit in one chunk: one statement for the whole batch.
  const small = m.filter((x) => x.body && x.body.length > 0 && x.body.length <= CHUNK_BYTES);
  if (small.length) {
    await c.query('INSERT INTO message_chunks (message_id, seq, data) SELECT id, 0, data FROM unnest($1::text[], $2::bytea[]) AS x(id, data)', [
      small.map((x) => x.id),
      small.map((x) => x.body),
    ]);
  }
  for (const x of m) {
    if (x.body && x.body.length > CHUNK_BYTES) await insertBodyChunks(c, x.id, x.body);
    else if (!x.body && x.spoolFile) await streamFileToChunks(c, x.id, x.spoolFile);
  }
  const r = batch.flatMap((b) => b.recipients.map((rcpt) => ({ ...rcpt, messageId: b.message.id, at: b.message.createdAt })));
  if (!r.length) return;
  // Recipients and their first event in one statement, in the order given.
  await c.query(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])
         WITH ORDINALITY AS x(message_id, address, domain, status, at, reason, category, notify, orcpt, ord)),
     ins AS (
       INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, created_at, updated_at, last_reply, category, dsn_notify, dsn_orcpt)
       SELECT message_id, address, domain, status, CASE WHEN status = 'queued' THEN at END, at, at, reason, category, notify, orcpt
       FROM input ORDER BY ord
       RETURNING id, message_id, address, status, category, created_at, last_reply)
     INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
     SELECT created_at, message_id, id, address, status, status, category,
            CASE WHEN last_reply IS NOT NULL THEN json_build_object('reason', last_reply)::text END
     FROM ins ORDER BY id`,
    [
      r.map((x) => x.messageId),
      r.map((x) => x.address),
      r.map((x) => x.domain),
      r.map((x) => x.status),
      r.map((x) => x.at),
      r.map((x) => x.reason),
      r.map((x) => x.category),
      r.map((x) => (x.dsnNotify && x.dsnNotify.length ? x.dsnNotify.join(',') : null)),
      r.map((x) => x.dsnOrcpt ?? null),
    ],
  );
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
      await inTransaction(pool, (c) => writeBatch(c, batch.map((b) => b.item), opts.nodeName));
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
      const done = batch.map((item) => new Promise<void>((resolve, reject) => waiting.push({ item, resolve, reject })));
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
