import t, { type Test } from 'tap';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { BODY_APART_MIN_BYTES } from '../../src/store/messages-repo.js';
import { readStoredBody } from '../../src/store/sqlite/stored-bodies.js';
import type { Store } from '../../src/core/store.js';
import { tempDir } from '../helpers/relay.js';
import { message } from './contract/fixtures.js';

// SQLite keeps large inline bodies in message_bodies (migration 020): the messages row stays small
// (signing rewrites it, not the body), and messages.head hands out a reference that a signing or
// delivery thread reads with its own connection. Rows written before the migration keep the body
// in messages.body and read as before.

const T0 = 1_760_000_000_000;

function open(t: Test): { db: Db; store: Store; file: string } {
  const file = join(tempDir(t), 'ferry.db');
  const db = openDatabase({ file });
  const store = createInProcessSqliteStore(db);
  t.teardown(() => store.close());
  return { db, store, file };
}

function withBody(bytes: number, over: Parameters<typeof message>[0] = {}) {
  const m = message({ at: T0, ...over });
  const body = Buffer.alloc(bytes, 'a line of the body\r\n');
  m.message.body = Buffer.from(body);
  m.message.size = m.message.headers.length + bytes;
  return { m, body };
}

const rowBodyLength = (db: Db, id: string) => db.prepare('SELECT length(body) FROM messages WHERE id = ?').pluck().get(id) as number | null;
const apartBody = (db: Db, id: string) => db.prepare('SELECT body FROM message_bodies WHERE message_id = ?').pluck().get(id) as Buffer | undefined;

t.test('a large body is stored apart, once; the row keeps "held" and the head hands out a reference', async (t) => {
  const { db, store, file } = open(t);
  const { m, body } = withBody(100 * 1024);
  await store.queue.accept([m]);
  const id = m.message.id;
  t.equal(rowBodyLength(db, id), 0, 'the messages row holds an empty blob: the body is held, elsewhere');
  t.ok(apartBody(db, id)?.equals(body), 'the body is in message_bodies');
  const head = (await store.messages.head(id))!;
  t.equal(head.body, null, 'head does not read it');
  t.same(head.bodyRef, { db: file, id, bytes: body.length });
  t.ok(readStoredBody(head.bodyRef!).equals(body), 'the reference reads it');
  t.ok((await store.messages.get(id))!.body?.equals(body), 'get reads it whole');

  // Signing rewrites the small row: the body row is not written again.
  const before = db.prepare('SELECT rowid FROM message_bodies WHERE message_id = ?').pluck().get(id);
  t.equal(await store.messages.markSigned(id, Buffer.concat([Buffer.from('DKIM-Signature: x\r\n'), m.message.headers]), T0 + 1), true);
  t.equal(rowBodyLength(db, id), 0, 'the signed row still holds no body bytes');
  t.equal(db.prepare('SELECT rowid FROM message_bodies WHERE message_id = ?').pluck().get(id), before, 'the body row is the same row');
  const signed = (await store.messages.head(id))!;
  t.match(signed.headers.toString(), /^DKIM-Signature: x\r\nReceived: test/);
  t.same(signed.bodyRef, { db: file, id, bytes: body.length }, 'its length is the body, not the grown header block');
});

t.test('a body under the threshold stays in the row and comes with the head', async (t) => {
  const { db, store } = open(t);
  const { m, body } = withBody(BODY_APART_MIN_BYTES - 1);
  await store.queue.accept([m]);
  t.equal(rowBodyLength(db, m.message.id), body.length);
  t.equal(apartBody(db, m.message.id), undefined);
  const head = (await store.messages.head(m.message.id))!;
  t.equal(head.bodyRef, null);
  t.ok(head.body?.equals(body));
});

t.test('a row written before migration 020 (body in messages.body) reads as before', async (t) => {
  const { db, store } = open(t);
  const { m, body } = withBody(100 * 1024);
  await store.queue.accept([m]);
  const id = m.message.id;
  // What an older Ferry left: the body in the row, nothing in message_bodies.
  db.transaction(() => {
    db.prepare('UPDATE messages SET body = ? WHERE id = ?').run(body, id);
    db.prepare('DELETE FROM message_bodies WHERE message_id = ?').run(id);
  })();
  const head = (await store.messages.head(id))!;
  t.equal(head.bodyRef, null, 'no reference: the body came with the row');
  t.ok(head.body?.equals(body));
  t.ok((await store.messages.get(id))!.body?.equals(body));
  // Signed under the old scheme too (signature inside messages.headers, signed_at on the row).
  t.equal(await store.messages.markSigned(id, Buffer.concat([Buffer.from('DKIM-Signature: old\r\n'), m.message.headers]), T0 + 1), true);
  const signed = (await store.messages.get(id))!;
  t.match(signed.headers.toString(), /^DKIM-Signature: old\r\n/);
  t.ok(signed.body?.equals(body));
  t.equal(signed.signedAt, T0 + 1);
});

t.test('retention and a lost body remove the body row with the body', async (t) => {
  const { db, store } = open(t);
  const a = withBody(64 * 1024);
  const b = withBody(64 * 1024);
  const c = withBody(64 * 1024);
  await store.queue.accept([a.m, b.m, c.m]);
  for (const x of [a, b, c]) {
    const [r] = await store.recipients.forMessage(x.m.message.id);
    await store.recipients.changeStatus(r!.id, { status: 'delivered', at: T0 + 10, nextAttemptAt: null, attempted: true, code: 250, reply: 'ok' });
  }
  const cleared = await store.retention.clearBodies([a.m.message.id], T0 + 100, T0 + 50, false);
  t.same(cleared.map((x) => [x.id, x.bytes]), [[a.m.message.id, 64 * 1024]], 'retention saw the body as held, with its size');
  t.equal(apartBody(db, a.m.message.id), undefined, 'its body row is gone');
  t.equal(rowBodyLength(db, a.m.message.id), null);
  t.equal(await store.retention.bodyOf(a.m.message.id), undefined, 'no body held any more');

  await store.retention.deleteRecord(b.m.message.id);
  t.equal(apartBody(db, b.m.message.id), undefined, 'deleting the record deletes its body row');

  t.equal(await store.messages.markBodyLost(c.m.message.id, T0 + 200), true);
  t.equal(apartBody(db, c.m.message.id), undefined, 'a body marked lost is not kept');
});

t.test('a reference that no longer reads fails with FERRY_ERR_STORE, never short', async (t) => {
  const { db, store } = open(t);
  const { m, body } = withBody(100 * 1024);
  await store.queue.accept([m]);
  const ref = (await store.messages.head(m.message.id))!.bodyRef!;
  t.throws(() => readStoredBody({ ...ref, bytes: body.length + 1 }), { code: 'FERRY_ERR_STORE' }, 'a length other than the row says');
  db.prepare('DELETE FROM message_bodies WHERE message_id = ?').run(m.message.id);
  t.throws(() => readStoredBody(ref), { code: 'FERRY_ERR_STORE' }, 'the body is gone (purged meanwhile)');
  t.throws(() => readStoredBody({ ...ref, db: join(tempDir(t), 'none.db') }), { code: 'FERRY_ERR_STORE' }, 'no such database');
});
