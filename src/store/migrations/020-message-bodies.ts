import type { Migration } from './types.js';

/**
 * Large inline bodies in a table of their own. In the messages row a 100 KB body made every change
 * to the row cost the body again: signing (messages.markSigned changes the header block's size,
 * and an UPDATE that changes a record's size rewrites all of it, overflow pages included) wrote
 * the body a second time, and any read of a column stored after it (signed_at, dsn_ret, ...)
 * walked its 25 overflow pages. Now the body is written once, the messages row stays small, and
 * the signing and delivery threads read the body by message id with connections of their own.
 *
 * Which bodies go here: inline bodies of at least BODY_APART_MIN_BYTES (messages-repo.ts); the
 * messages row then holds an empty blob in `body` (so "the body is still held" reads the same for
 * retention and its index). Smaller bodies, and every row written before this migration, keep the
 * body in messages.body; reads take whichever holds it.
 */
export const migration020: Migration = {
  version: 20,
  name: 'message-bodies',
  up: `
    CREATE TABLE message_bodies (
      message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
      body       BLOB NOT NULL
    );
  `,
};
