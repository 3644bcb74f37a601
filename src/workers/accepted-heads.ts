import type { Clock } from '../core/clock.js';
import type { MessagesStore, QueueStoreOps } from '../core/store.js';
import type { AcceptedMessage, MessageHead, MessageRow } from '../core/store-types.js';
import { BODY_APART_MIN_BYTES } from '../store/messages-repo.js';
import { TRANSFER_MIN_BYTES } from '../store/sqlite/threaded.js';

/**
 * The rows of messages this relay has just committed, kept for their first delivery.
 *
 * Delivery starts each message with messages.head: on SQLite a synchronous read of the row and
 * its body on the SMTP thread (~40 µs of that thread per 4 KB message in the reused-connections
 * case: bench/RESULTS.md, cpu session), of bytes the same thread held a moment before, at the
 * intake's commit. So the intake's commit records each committed row here, and the first head()
 * of that message takes it (once: a later attempt reads the store, which may have changed since:
 * signed headers, a body removed).
 *
 * Only what head() would return unchanged on every engine is kept:
 * - a body given inline (not a spool file), not empty, smaller than BODY_APART_MIN_BYTES (larger
 *   ones are kept apart and handed out by reference, bodyRef) and than TRANSFER_MIN_BYTES (larger
 *   Buffers are moved to the SQLite writer thread and empty here after the commit); header
 *   blocks likewise;
 * - a message with a recipient to deliver (one whose recipients were all dropped is never claimed).
 * What changes a message's row before its first delivery is that delivery itself (the signed
 * headers, written by sign/prepare.ts, which reads the store again when another node signed
 * first: markSigned is conditional).
 *
 * Bounds: maxEntries rows, maxBytes of memory held (a Buffer's whole backing store: a small one
 * may be a slice of Node's 8 KB pool), maxAgeMs. Delivery takes rows in about commit order, so
 * when full a new row is not kept (not the oldest dropped: those are the next to be taken; a
 * backlog larger than the bounds reads the rest from the store). A row not taken within maxAgeMs
 * (a message another node delivered, on PostgreSQL) is dropped.
 */
export interface AcceptedHeadsOptions {
  clock: Clock;
  /** Most rows kept (default 4096). */
  maxEntries?: number;
  /** Most memory held by the kept headers and bodies (default 32 MB). */
  maxBytes?: number;
  /** A row not taken within this time is dropped (default 60 s): its message went elsewhere. */
  maxAgeMs?: number;
}

export interface AcceptedHeadsStats {
  /** head() answered from memory. */
  hits: number;
  /** head() read from the store. */
  misses: number;
  /** Rows dropped by age, never taken. */
  dropped: number;
  /** Rows not kept because the bounds were reached. */
  full: number;
  entries: number;
  bytes: number;
}

export interface AcceptedHeads {
  /** The intake's commit: as `queue.accept`, recording each committed message. */
  queue(queue: Pick<QueueStoreOps, 'accept'>): Pick<QueueStoreOps, 'accept'>;
  /** messages.head: a recorded row once, else the store's. Other methods pass through. */
  messages<M extends Pick<MessagesStore, 'head'>>(messages: M): M;
  stats(): AcceptedHeadsStats;
}

/** Largest body or header block kept: below both thresholds (see above). */
export const HEAD_CACHE_MAX_PART = Math.min(BODY_APART_MIN_BYTES, TRANSFER_MIN_BYTES);

/** Memory a Buffer keeps alive: its whole backing store (a slice of a pool holds all of it). */
const held = (b: Buffer): number => Math.max(b.length, b.buffer.byteLength);

interface Entry {
  /** The committed row; made into a head when taken (most rows are: the work is done once). */
  message: AcceptedMessage['message'];
  bytes: number;
  at: number;
}

/**
 * The row as head() reads it back: absent options are stored as null / false. Every field by name
 * (Required: a field added to MessageRow must be added here): an object spread of the row cost
 * ~5 µs (V8's slow path for a copy with this many properties), a literal ~0.1.
 */
function headOf(m: AcceptedMessage['message']): MessageHead {
  const head: Required<MessageRow> & { bodyRef: null } = {
    id: m.id,
    createdAt: m.createdAt,
    sender: m.sender,
    username: m.username,
    clientIp: m.clientIp,
    helo: m.helo,
    tls: m.tls,
    size: m.size,
    headers: m.headers,
    body: m.body,
    spoolFile: m.spoolFile,
    headerFrom: m.headerFrom,
    messageIdHeader: m.messageIdHeader,
    subject: m.subject,
    eightBit: m.eightBit,
    smtputf8: m.smtputf8,
    kind: m.kind,
    signedAt: null,
    dsnRet: m.dsnRet ?? null,
    dsnEnvid: m.dsnEnvid ?? null,
    listUnsubscribe: m.listUnsubscribe ?? false,
    requireTls: m.requireTls ?? false,
    bodyRef: null,
  };
  return head;
}

export function createAcceptedHeads(options: AcceptedHeadsOptions): AcceptedHeads {
  const maxEntries = options.maxEntries ?? 4096;
  const maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const { clock } = options;
  // Insertion order is commit order: the oldest first.
  const rows = new Map<string, Entry>();
  let bytes = 0;
  const counts = { hits: 0, misses: 0, dropped: 0, full: 0 };

  const remove = (id: string, e: Entry) => {
    rows.delete(id);
    bytes -= e.bytes;
  };
  const trim = (now: number) => {
    for (const [id, e] of rows) {
      if (now - e.at <= maxAgeMs) break;
      remove(id, e);
      counts.dropped++;
    }
  };

  /** An entry for the row, or null when head() might not return it unchanged (see above). */
  function entryOf(m: AcceptedMessage): Entry | null {
    const msg = m.message;
    if (!m.recipients.some((r) => r.status !== 'dropped')) return null;
    // A spool file's body is read from where each engine keeps it (PostgreSQL: copied into the
    // database at the commit, and head() answers with it inline); an empty one, likewise engine's.
    if (!msg.body || msg.body.length === 0 || msg.spoolFile !== null) return null;
    if (msg.body.length >= HEAD_CACHE_MAX_PART || msg.headers.length >= HEAD_CACHE_MAX_PART) return null;
    return { message: msg, bytes: held(msg.body) + held(msg.headers), at: 0 };
  }

  return {
    queue(queue) {
      return {
        async accept(batch) {
          // Decided before the store takes the batch: a large Buffer is empty here after it.
          const kept = batch.map(entryOf);
          const results = await queue.accept(batch);
          const now = clock.now();
          trim(now);
          for (const e of kept) {
            if (!e) continue;
            if (rows.size >= maxEntries || bytes + e.bytes > maxBytes) {
              counts.full++;
              continue;
            }
            e.at = now;
            rows.set(e.message.id, e);
            bytes += e.bytes;
          }
          return results;
        },
      };
    },
    messages(messages) {
      const head = (id: string): Promise<MessageHead | undefined> => {
        const e = rows.get(id);
        if (e) {
          remove(id, e);
          if (clock.now() - e.at <= maxAgeMs) {
            counts.hits++;
            return Promise.resolve(headOf(e.message));
          }
          counts.dropped++;
        }
        counts.misses++;
        return messages.head(id);
      };
      // Every other method is the store's own, called on the store: a spread copies only own
      // properties and would lose a class's methods (markSigned, on the engine's prototype).
      // Bound once per method (delivery calls some per message).
      const bound = new Map<string | symbol, unknown>();
      return new Proxy(messages, {
        get(target, prop) {
          if (prop === 'head') return head;
          const value: unknown = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          let b = bound.get(prop);
          if (b === undefined) bound.set(prop, (b = value.bind(target)));
          return b;
        },
      });
    },
    stats: () => ({ ...counts, entries: rows.size, bytes }),
  };
}
