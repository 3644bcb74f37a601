import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createSignPool } from '../../src/sign/pool.js';
import { createSigner } from '../../src/sign/signer.js';
import { openDatabase } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { message } from '../store/contract/fixtures.js';
import { crlf, keySourceOf, makeTestKeys, verify } from './fixtures/helpers.js';

// A large inline body is left in the store (SQLite message_bodies, messages.head's bodyRef): the
// signing thread reads it with its own connection, signs the stored bytes, and hands them back.

const keys = makeTestKeys();
keys.add('example.com', 'rsa1', 'rsa');
keys.add('example.com', 'ed1', 'ed25519');
const dir = mkdtempSync(join(tmpdir(), 'ferry-pool-row-'));
t.teardown(() => {
  keys.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const clock = new ManualClock(Date.UTC(2026, 0, 15));
const HEAD = Buffer.from(crlf(`From: Alice <alice@example.com>
To: bob@dest.test
Subject: stored body
Date: Thu, 15 Jan 2026 10:00:00 +0000
Message-ID: <row@example.com>

`));
const BODY = Buffer.from(crlf('Hello  Bob,\n\n.a dot line\n'.repeat(2000) + '\n\n'));

t.test('a body left in the store is read by the signing thread itself, and handed back whole (moved, not copied)', async (t) => {
  const pool = createSignPool({ threads: 1, logger: silentLogger() });
  t.teardown(() => pool.close());
  const store = createInProcessSqliteStore(openDatabase({ file: join(dir, 'bodies.db') }));
  t.teardown(() => store.close());
  const m = message({ id: 'ROW1' });
  m.message.headers = HEAD;
  m.message.body = Buffer.from(BODY);
  m.message.size = HEAD.length + BODY.length;
  await store.queue.accept([m]);
  const head = (await store.messages.head('ROW1'))!;
  t.ok(head.bodyRef && head.body === null, 'the head leaves the body in the store');
  const here = createSigner({ keys: keySourceOf(keys), clock });
  const there = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  for (const [name, signer] of [['this thread', here], ['a signing thread', there]] as const) {
    const r = await signer.sign('example.com', { headers: HEAD, inline: null, file: null, row: head.bodyRef });
    t.ok(r, `${name}: signed`);
    const results = await verify(keys, Buffer.concat([Buffer.from(r!.headers, 'latin1'), HEAD, BODY]));
    t.same(results.map((x) => x.result), ['pass', 'pass'], `${name}: the signature covers the stored body`);
    t.ok(Buffer.isBuffer(r!.body) && r!.body.equals(BODY), `${name}: the body it read comes back`);
  }
  await t.rejects(there.sign('example.com', { headers: HEAD, inline: null, file: null, row: { ...head.bodyRef!, id: 'GONE' } }), { code: 'FERRY_ERR_STORE' }, 'a body no longer in the store: a store error (retried), never an empty body signed');
  t.equal(pool.started, 1, 'the thread lives on');
});
