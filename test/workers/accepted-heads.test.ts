import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { QueueStoreOps } from '../../src/core/store.js';
import type { AcceptedMessage, MessageHead } from '../../src/core/store-types.js';
import { createAcceptedHeads, HEAD_CACHE_MAX_PART } from '../../src/workers/accepted-heads.js';
import { deferredStore } from '../../src/store/deferred.js';
import { ENGINES } from '../store/contract/engines.js';
import { message } from '../store/contract/fixtures.js';
import { tempDir } from '../helpers/relay.js';

const T0 = 1_760_000_000_000;

function withBody(m: AcceptedMessage, bytes: number): AcceptedMessage {
  const body = Buffer.alloc(bytes, 'a line of the body\r\n');
  return { ...m, message: { ...m.message, body, size: m.message.headers.length + bytes } };
}

// What the first delivery reads must be what the store would have answered, on every engine.
for (const engine of ENGINES) {
  t.test(`${engine.name}: the first head() of a committed message is the store's row, from memory, once`, async (t) => {
    const store = await engine.open(t);
    const clock = new ManualClock(T0);
    const heads = createAcceptedHeads({ clock });
    const queue = heads.queue(store.queue);
    const messages = heads.messages(store.messages);
    const plain = message({ at: T0 });
    const options = message({ at: T0 });
    Object.assign(options.message, { dsnRet: 'HDRS', dsnEnvid: 'env-1', listUnsubscribe: true, requireTls: true, username: 'app' });
    const spooled = message({ at: T0 });
    // (on PostgreSQL the file is read at the commit: a real one)
    const file = join(tempDir(t), 'spool-file-1');
    writeFileSync(file, 'body\r\n');
    Object.assign(spooled.message, { body: null, spoolFile: file, size: spooled.message.headers.length + 6 });
    const edge = withBody(message({ at: T0 }), HEAD_CACHE_MAX_PART - 1);
    const all = [plain, options, edge];
    await queue.accept([plain, options, spooled, edge]);
    t.equal(heads.stats().entries, 3, 'not the spool file (PostgreSQL copies it into the database: its head differs)');
    for (const m of all) {
      const fromStore = await store.messages.head(m.message.id);
      const fromMemory = await messages.head(m.message.id);
      t.same(fromMemory, fromStore, `${m.message.id}: as the store reads it`);
      t.equal(typeof fromMemory?.signedAt, 'object');
    }
    t.same(heads.stats(), { hits: 3, misses: 0, dropped: 0, full: 0, entries: 0, bytes: 0 });
    // taken once: the next attempt reads the store (signed headers may have been written since)
    t.same(await messages.head(plain.message.id), await store.messages.head(plain.message.id));
    t.equal(heads.stats().misses, 1);
    // the other methods are the store's
    t.equal((await messages.getSummary(plain.message.id))?.id, plain.message.id);
    // every one of them, called on the store (a class's methods live on its prototype: a copy of
    // the object's own properties lost markSigned, and every DKIM-signed delivery failed)
    for (const name of ['insert', 'get', 'getSummary', 'list', 'count', 'spoolFiles', 'markBodyLost', 'forgetSpoolFile', 'markSigned', 'signedAt'] as const) {
      t.equal(typeof messages[name], 'function', `${name} passes through`);
    }
    t.equal(await messages.markSigned(options.message.id, Buffer.from('DKIM-Signature: x\r\n'), T0 + 5), true, 'markSigned reaches the store');
    t.equal(await store.messages.signedAt(options.message.id), T0 + 5);
    t.equal(await messages.signedAt(options.message.id), T0 + 5);
    // the relay's store is opened late: its groups are Proxies with no own properties
    const late = heads.messages(deferredStore(() => store).messages);
    t.equal(typeof late.markSigned, 'function', 'a late-opened store keeps its methods');
    t.equal(await late.signedAt(options.message.id), T0 + 5);
    t.equal(await late.markSigned(options.message.id, Buffer.from('DKIM-Signature: y\r\n'), T0 + 6), false, 'signed once');
  });

  t.test(`${engine.name}: large bodies and header blocks are not kept (kept apart, or moved to the writer thread)`, async (t) => {
    const store = await engine.open(t);
    const heads = createAcceptedHeads({ clock: new ManualClock(T0) });
    const big = withBody(message({ at: T0 }), HEAD_CACHE_MAX_PART);
    const bigHeaders = message({ at: T0 });
    const headers = Buffer.concat([Buffer.from(`X-Pad: ${'p'.repeat(HEAD_CACHE_MAX_PART)}\r\n`), bigHeaders.message.headers]);
    Object.assign(bigHeaders.message, { headers, size: headers.length + (bigHeaders.message.body?.length ?? 0) });
    await heads.queue(store.queue).accept([big, bigHeaders]);
    t.equal(heads.stats().entries, 0);
    const head = (await heads.messages(store.messages).head(big.message.id)) as MessageHead;
    t.equal(head.size, big.message.headers.length + HEAD_CACHE_MAX_PART, 'read from the store');
    t.equal(heads.stats().misses, 1);
  });
}

t.test('a message whose recipients were all dropped is not kept; one with a recipient to deliver is', async (t) => {
  const heads = createAcceptedHeads({ clock: new ManualClock(T0) });
  const accept: QueueStoreOps['accept'] = async () => [];
  const empty = message();
  Object.assign(empty.message, { body: Buffer.alloc(0), size: empty.message.headers.length });
  await heads.queue({ accept }).accept([message({ recipients: [], dropped: ['x@example.net'] }), message({ dropped: ['y@example.net'] }), empty]);
  t.equal(heads.stats().entries, 1, 'nor one with an empty body (each engine reads that its own way)');
});

t.test('a commit that fails keeps nothing', async (t) => {
  const heads = createAcceptedHeads({ clock: new ManualClock(T0) });
  const accept: QueueStoreOps['accept'] = async () => {
    throw new Error('disk full');
  };
  await t.rejects(heads.queue({ accept }).accept([message()]), /disk full/);
  t.equal(heads.stats().entries, 0);
});

t.test('bounds: when full a new row is not kept (the oldest are the next taken); by count, by memory held; too old: dropped', async (t) => {
  const clock = new ManualClock(T0);
  const accept: QueueStoreOps['accept'] = async () => [];
  const reads: string[] = [];
  const store = { head: async (id: string) => (reads.push(id), undefined) };

  const byCount = createAcceptedHeads({ clock, maxEntries: 2 });
  const [a, b, c] = [message(), message(), message()];
  await byCount.queue({ accept }).accept([a, b, c]);
  t.same([byCount.stats().entries, byCount.stats().full], [2, 1]);
  t.equal((await byCount.messages(store).head(a.message.id))?.id, a.message.id, 'the oldest stays');
  t.equal(await byCount.messages(store).head(c.message.id), undefined, 'the one that found it full: read from the store');
  t.same(reads, [c.message.id]);
  await byCount.queue({ accept }).accept([c]);
  t.equal(byCount.stats().entries, 2, 'a row taken makes room');

  // memory held: a Buffer's whole backing store (a slice of the 8 KB pool holds all of it)
  const own = (m: AcceptedMessage) => {
    const headers = Buffer.alloc(m.message.headers.length); // not pooled
    m.message.headers.copy(headers);
    m.message.headers = headers;
    m.message.body = Buffer.alloc(1000, 'b');
    return m;
  };
  const one = own(message());
  const size = one.message.headers.length + 1000;
  const byBytes = createAcceptedHeads({ clock, maxBytes: size * 2 });
  await byBytes.queue({ accept }).accept([one, own(message()), own(message())]);
  t.same([byBytes.stats().entries, byBytes.stats().bytes, byBytes.stats().full], [2, size * 2, 1]);
  const pooled = message();
  t.ok(pooled.message.body!.buffer.byteLength > pooled.message.body!.length, 'the fixture body is a pool slice');
  const byPool = createAcceptedHeads({ clock });
  await byPool.queue({ accept }).accept([pooled]);
  t.equal(byPool.stats().bytes, pooled.message.body!.buffer.byteLength + pooled.message.headers.buffer.byteLength);

  const byAge = createAcceptedHeads({ clock, maxAgeMs: 1000 });
  const old = message();
  const later = message();
  await byAge.queue({ accept }).accept([old]);
  clock.advance(600);
  await byAge.queue({ accept }).accept([later]);
  clock.advance(600);
  await byAge.queue({ accept }).accept([message()]);
  t.equal(byAge.stats().entries, 2, 'the first, 1.2 s old, dropped at the next commit');
  clock.advance(1000);
  reads.length = 0;
  t.equal(await byAge.messages(store).head(later.message.id), undefined, 'too old when asked for: the store answers');
  t.same(reads, [later.message.id]);
  t.same([byAge.stats().dropped, byAge.stats().hits, byAge.stats().entries], [2, 0, 1]);
});
