import t from 'tap';
import { createSpool } from '../../src/spool/spool.js';
import type { StoredBodyRef } from '../../src/core/store-types.js';
import { tempDir } from '../helpers/relay.js';

// spool.open on a body left in the store (BodyRef.row, messages.head): read through readRow on
// the calling thread, unless its bytes are at hand; a spool that cannot read it fails the stream.

const headers = Buffer.from('Subject: x\r\n\r\n');
const body = Buffer.alloc(20_000, 'z');
const row: StoredBodyRef = { db: '/data/ferry.db', id: 'M1', bytes: body.length };

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

t.test('a body left in the store is read by its row, once per open', async (t) => {
  const asked: string[] = [];
  const spool = createSpool({ dir: tempDir(t), inlineMaxBytes: 128 * 1024, readRow: (r) => (asked.push(r.id), body) });
  t.same(await collect(spool.open({ headers, inline: null, file: null, row })), Buffer.concat([headers, body]));
  t.same(asked, ['M1']);
  t.same(spool.signSource({ headers, inline: null, file: null, row }), { headers, inline: null, file: null, row }, 'a signer gets the row to read itself');
});

t.test('bytes at hand (handed back by the signing thread) are used, not read again; emptied ones are not', async (t) => {
  const asked: string[] = [];
  const spool = createSpool({ dir: tempDir(t), inlineMaxBytes: 128 * 1024, readRow: (r) => (asked.push(r.id), body) });
  t.same(await collect(spool.open({ headers, inline: Buffer.from(body), file: null, row })), Buffer.concat([headers, body]));
  t.same(asked, [], 'no read');
  t.same(await collect(spool.open({ headers, inline: Buffer.alloc(0), file: null, row })), Buffer.concat([headers, body]), 'an emptied (moved) buffer: read by the row');
  t.same(asked, ['M1']);
});

t.test('a spool without readRow refuses such a body: the stream fails, nothing is sent short', async (t) => {
  const spool = createSpool({ dir: tempDir(t), inlineMaxBytes: 128 * 1024 });
  await t.rejects(collect(spool.open({ headers, inline: null, file: null, row })), { code: 'FERRY_ERR_SPOOL' });
});
