import { FerryError } from '../../core/errors.js';
import type { StoredBodyRef } from '../../core/store-types.js';
import { openDatabase, type Db } from '../db.js';

/**
 * Reads a large inline body (message_bodies, migration 020) on the thread that needs it — a
 * signing thread, the delivery thread — with a read-only connection of that thread's own, so the
 * SMTP thread neither reads the 100 KB nor copies it to them (messages.head hands out the
 * reference). WAL: a reader never waits for the writer, and sees every commit made before its read
 * starts, so a row the caller was handed is there.
 *
 * One connection per database file per thread, kept for the thread's life (a relay has one file;
 * a test process that opens many keeps the last few).
 */
const MAX_OPEN = 4;

type Statement = ReturnType<Db['prepare']>;
/** Page cache per connection, in pages: a body is read once, so caching it buys nothing. */
const CACHE_PAGES = 16;

const open = new Map<string, { db: Db; read: Statement }>();

function readerFor(file: string): Statement {
  const got = open.get(file);
  if (got) return got.read;
  if (open.size >= MAX_OPEN) {
    const [oldest, c] = open.entries().next().value as [string, { db: Db }];
    open.delete(oldest);
    c.db.close();
  }
  const db = openDatabase({ file, readonly: true, create: false });
  db.pragma(`cache_size = ${CACHE_PAGES}`);
  const read = db.prepare('SELECT body FROM message_bodies WHERE message_id = ?').pluck();
  open.set(file, { db, read });
  return read;
}

/**
 * The body `ref` points at. Throws FERRY_ERR_STORE when it cannot be read or is not the length
 * the row says (the message was purged meanwhile, the file is gone): the caller's attempt fails
 * locally and is retried; nothing is sent short.
 */
export function readStoredBody(ref: StoredBodyRef): Buffer {
  let body: unknown;
  try {
    body = readerFor(ref.db).get(ref.id);
  } catch (err) {
    throw new FerryError('FERRY_ERR_STORE', `reading the body of message ${ref.id}: ${(err as Error).message}`, { cause: err });
  }
  if (!Buffer.isBuffer(body)) throw new FerryError('FERRY_ERR_STORE', `the body of message ${ref.id} is no longer in the store`);
  if (body.length !== ref.bytes) throw new FerryError('FERRY_ERR_STORE', `the body of message ${ref.id} is ${body.length} bytes, its row says ${ref.bytes}`);
  return body;
}
