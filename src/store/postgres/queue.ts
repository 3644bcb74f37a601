import type { FatePlan, FateResult } from '../../core/fate.js';
import type { AcceptedMessage } from '../../core/store-types.js';
import { dropPlansOf, droppedCount, withDropIds } from '../fate-rows.js';
import { recordFatesOn } from './fates.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';
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
       header_from, message_id_hdr, subject, eight_bit, smtputf8, kind, dsn_ret, dsn_envid, list_unsubscribe, require_tls, accepted_by)
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
       arr(m.map((x) => x.requireTls ?? false), 'boolean'),
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
       -- A recipient born dropped gets its event from its fate (origin intake-drop), in the same transaction.
       INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category, detail)
       SELECT created_at, message_id, id, address, status, status, category,
              CASE WHEN last_reply IS NOT NULL THEN json_build_object('reason', last_reply)::text END
       FROM ins WHERE status <> 'dropped' ORDER BY id RETURNING 1)
   SELECT COALESCE((SELECT array_agg(id ORDER BY id) FROM ins WHERE status = 'dropped'), '{}') AS dropped`;
  return { text, values: p.values };
}

/** Whether a message's body must be streamed into chunks by its own statements (large, or in a spool file). */
const needsStreaming = (a: AcceptedMessage) => (a.message.body ? a.message.body.length > CHUNK_BYTES : a.message.spoolFile !== null);

/** One accept call: committed as a unit, with the intake-drop fates planned for it. */
interface AcceptCall {
  batch: AcceptedMessage[];
  plans: FatePlan[];
}

/**
 * Writes accept calls in one transaction: the messages of every call in one statement, then the
 * large bodies streamed into chunks one chunk at a time (a 10 MB message is never in memory),
 * then each call's drop fates with the ids the insert gave (recipient ids follow the insert
 * order). Small bodies and no drop fates: the statement alone is the transaction (one round trip).
 * Returns each call's fate results.
 */
async function writeCalls(pool: PgPool, calls: AcceptCall[], nodeName: string): Promise<FateResult[][]> {
  const all = calls.flatMap((c) => c.batch);
  const stmt = batchStatement(all, nodeName);
  const large = all.filter(needsStreaming);
  if (!large.length && calls.every((c) => c.plans.length === 0)) {
    await pool.query(stmt.text, stmt.values);
    return calls.map(() => []);
  }
  return inTransaction(pool, (c: PgClient) => writeCallsOn(c, calls, stmt, large));
}

/**
 * One accept call written inside the caller's transaction: for the named operations that queue a
 * mail together with other writes (a DSN and its outbox row's removal, a TLS report and its sent rows).
 */
export async function acceptOn(c: PgClient, batch: AcceptedMessage[], nodeName: string): Promise<FateResult[]> {
  if (batch.length === 0) return [];
  const plans = dropPlansOf(batch);
  return (await writeCallsOn(c, [{ batch, plans }], batchStatement(batch, nodeName), batch.filter(needsStreaming)))[0]!;
}

async function writeCallsOn(c: PgClient, calls: AcceptCall[], stmt: { text: string; values: unknown[] }, large: AcceptedMessage[]): Promise<FateResult[][]> {
  {
    const r = await c.query<{ dropped: number[] }>(stmt.text, stmt.values);
    for (const { message: x } of large) {
      if (x.body) await insertBodyChunks(c, x.id, x.body);
      else if (x.spoolFile) await streamFileToChunks(c, x.id, x.spoolFile);
    }
    const ids = r.rows[0]!.dropped.map(Number);
    const out: FateResult[][] = [];
    let next = 0;
    for (const call of calls) {
      const n = droppedCount(call.batch);
      const mine = ids.slice(next, next + n);
      next += n;
      out.push(await recordFatesOn(c, withDropIds(call.plans, mine)));
    }
    return out;
  }
}

/**
 * Group commit over the network: accept calls that arrive while a commit is in flight wait for
 * the next one, which takes them all (up to maxBatch messages). One COMMIT (one WAL flush on the
 * server, synchronous_commit on) covers them; each caller's promise resolves only after it, so
 * the 250 follows durability. A failing group is retried one call at a time so one bad message
 * cannot fail its neighbours.
 */
export function createPgQueue(pool: PgPool, opts: QueueOptions) {
  const maxBatch = opts.maxBatch ?? 256;
  type Waiting = { call: AcceptCall; resolve: (r: FateResult[]) => void; reject: (err: unknown) => void };
  let waiting: Waiting[] = [];
  let inFlight = false;
  let commits = 0;

  async function commitGroup(group: Waiting[]): Promise<void> {
    try {
      const results = await writeCalls(pool, group.map((w) => w.call), opts.nodeName);
      commits++;
      group.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      if (group.length === 1) {
        group[0]!.reject(err);
        return;
      }
      for (const w of group) await commitGroup([w]);
    }
  }

  function pump(): void {
    if (inFlight || waiting.length === 0) return;
    inFlight = true;
    let size = 0;
    let n = 0;
    while (n < waiting.length && (n === 0 || size + waiting[n]!.call.batch.length <= maxBatch)) size += waiting[n++]!.call.batch.length;
    const group = waiting.slice(0, n);
    waiting = waiting.slice(n);
    void commitGroup(group).finally(() => {
      inFlight = false;
      pump();
    });
  }

  return {
    /**
     * Resolves once every message of the batch, its recipients, events and drop fates are
     * committed (durable): then say 250. Calls from concurrent intakes share commits.
     */
    async accept(batch: AcceptedMessage[]): Promise<FateResult[]> {
      if (batch.length === 0) return [];
      const plans = dropPlansOf(batch);
      // Refused before anything is written (the SQLite engine checks inside its transaction).
      withDropIds(plans, new Array<number>(plans.length ? droppedCount(batch) : 0).fill(0));
      const call = { batch, plans };
      // A large body streams into chunks in its own transaction, beside the group commits: a
      // 10 MB message must not hold the small ones queued behind it for the seconds it takes.
      if (batch.some(needsStreaming)) return (await writeCalls(pool, [call], opts.nodeName))[0]!;
      const done = new Promise<FateResult[]>((resolve, reject) => waiting.push({ call, resolve, reject }));
      pump();
      return done;
    },
    /** Commits done and accepts waiting: for metrics and the bench. */
    stats(): { commits: number; waiting: number } {
      return { commits, waiting: waiting.length };
    },
  };
}

export type PgQueue = ReturnType<typeof createPgQueue>;
