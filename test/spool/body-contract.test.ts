import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Store } from '../../src/core/store.js';
import { sourceStream } from '../../src/sign/signer.js';
import { createChunkBodies } from '../../src/spool/chunk-bodies.js';
import { createSpool, type Spool } from '../../src/spool/spool.js';
import { openDatabase } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { openTestStore, testPg } from '../helpers/postgres.js';
import { tempDir } from '../helpers/relay.js';
import { accepted } from '../helpers/store.js';

/**
 * The body contract (spool/spool.ts Spool) on both engines: what intake writes through it and
 * commits with queue.accept is what delivery (open), signing (signSource) and a RET=FULL DSN
 * (readFull) read back, byte for byte, inline or large. SQLite keeps a large body as a spool
 * file; PostgreSQL as chunk rows, staged in a local file only until the commit.
 */

interface Engine {
  name: string;
  open(t: Test): Promise<{ store: Store; bodies: Spool; staging: string | null; raw?: (sql: string, values: unknown[]) => Promise<unknown> }>;
}

const INLINE_MAX = 1024;

const engines: Engine[] = [
  {
    name: 'sqlite (spool files)',
    async open(t) {
      const dir = tempDir(t);
      const store = createInProcessSqliteStore(openDatabase({ file: join(dir, 'ferry.db') }));
      t.teardown(() => store.close());
      return { store, bodies: createSpool({ dir: join(dir, 'spool'), inlineMaxBytes: INLINE_MAX }), staging: null };
    },
  },
  {
    name: 'postgres (chunk rows)',
    async open(t) {
      const { url } = await testPg();
      const store = await openTestStore(t, url, 'bodies');
      const staging = join(tempDir(t), 'spool-staging');
      const bodies = createChunkBodies({ dir: staging, inlineMaxBytes: INLINE_MAX, openBody: (id) => store.messages.openBody(id) });
      return { store, bodies, staging, raw: (sql, values) => store.pool.query(sql, values) };
    },
  },
];

async function collect(s: Readable | NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Writes `body` through the contract in 64 KB pieces and commits it as intake does; returns the stored row. */
async function intake(store: Store, bodies: Spool, id: string, body: Buffer) {
  const writer = bodies.createWriter(id);
  for (let off = 0; off < body.length; off += 65_536) await writer.write(body.subarray(off, off + 65_536));
  const stored = await writer.finish();
  const a = accepted({ id, at: Date.now() });
  a.message = { ...a.message, size: a.message.headers.length + stored.size, body: stored.inline, spoolFile: stored.file };
  await store.queue.accept([a]);
  await bodies.committed(stored);
  return (await store.messages.get(id))!;
}

for (const engine of engines) {
  t.test(`${engine.name}: a body read back through the contract is the body written`, async (t) => {
    const { store, bodies, staging } = await engine.open(t);
    for (const [id, body] of [
      ['SMALL1', Buffer.from('a small body\r\n')],
      ['LARGE1', Buffer.from(Array.from({ length: 16_000 }, () => randomBytes(54).toString('base64')).join('\r\n') + '\r\n')],
    ] as const) {
      const row = await intake(store, bodies, id, body);
      const whole = Buffer.concat([row.headers, body]);
      const ref = { id, bodyBytes: row.size - row.headers.length, headers: row.headers, inline: row.body, file: row.spoolFile };
      t.ok((await collect(bodies.open(ref))).equals(whole), `${id} (${body.length} bytes): open() streams headers and body byte for byte`);
      const sign = bodies.signSource(ref);
      t.ok((await collect(typeof sign === 'function' ? sign() : sourceStream(sign))).equals(whole), `${id}: the signer reads the same bytes`);
      t.ok((await bodies.readFull(row, whole.length))?.equals(whole), `${id}: readFull within the limit: the whole message`);
      t.equal(await bodies.readFull(row, whole.length - 1), null, `${id}: readFull past the limit: null`);
    }
    if (staging) t.same(readdirSync(staging), [], 'nothing staged is left once the commits are answered');
  });
}

t.test('postgres: a body whose chunks are gone fails the stream rather than sending a short message', async (t) => {
  const { store, bodies, raw } = await engines[1]!.open(t);
  const body = randomBytes(700_000);
  const row = await intake(store, bodies, 'SHORT1', body);
  await raw!('DELETE FROM message_chunks WHERE message_id = $1 AND seq = (SELECT max(seq) FROM message_chunks WHERE message_id = $1)', ['SHORT1']);
  await t.rejects(collect(bodies.open({ id: 'SHORT1', bodyBytes: row.size - row.headers.length, headers: row.headers, inline: row.body, file: row.spoolFile })), { code: 'FERRY_ERR_SPOOL' });
  t.equal(await bodies.readFull(row, 10_000_000), null, 'readFull: unreadable, null (the DSN returns the headers alone)');
});

t.test('postgres: staging files a crash left behind are swept at start', async (t) => {
  const staging = join(tempDir(t), 'spool-staging');
  const bodies = createChunkBodies({ dir: staging, inlineMaxBytes: 10, openBody: () => { throw new Error('not read'); } });
  const w = bodies.createWriter('CRASH1');
  await w.write(Buffer.alloc(100, 'x'));
  const stored = await w.finish();
  t.ok(stored.file?.startsWith(staging), 'a large body is staged in the staging directory, named by its full path');
  t.equal(await bodies.sweep(), 1);
  t.same(readdirSync(staging), []);
});
