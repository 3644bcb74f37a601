import t from 'tap';
import { waitFor } from '../helpers/bounce.js';
import type { Test } from 'tap';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import Database from '../../src/store/sqlite-driver.js';
import { openThreadedSqliteStore, type ThreadedSqliteStore } from '../../src/store/sqlite/threaded.js';
import type { FerryError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/relay.js';
import { freshWriterEntry } from './contract/engines.js';
import { message } from './contract/fixtures.js';
import { planner } from './contract/groups.js';
import { isRelaxed } from '../../src/store/sqlite/writer-protocol.js';

const T0 = 1_760_000_000_000;

async function open(t: Test, onWriterFailure?: (err: FerryError) => void, relaxedHoldMs?: number, checkpointEvery?: number): Promise<{ store: ThreadedSqliteStore; file: string }> {
  const file = join(tempDir(t), 'ferry.db');
  const writerEntry = freshWriterEntry();
  const store = await openThreadedSqliteStore({
    file,
    ...(writerEntry ? { writerEntry } : {}),
    ...(onWriterFailure ? { onWriterFailure } : {}),
    ...(relaxedHoldMs !== undefined ? { relaxedHoldMs } : {}),
    ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
  });
  t.teardown(() => store.close());
  return { store, file };
}

const count = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

t.test('N concurrent accepts share far fewer transactions (and fsyncs), and all are committed', async (t) => {
  const { store, file } = await open(t);
  const before = store.writerStats();
  await Promise.all(Array.from({ length: 300 }, () => store.queue.accept([message()])));
  const after = store.writerStats();
  const commits = after.commits - before.commits;
  t.equal(after.operations - before.operations, 300);
  t.ok(commits >= 1 && commits <= 30, `${commits} transaction(s) for 300 accepts`);
  t.equal(after.durableCommits - before.durableCommits, commits, 'each of them synced');
  t.equal(count(file), 300);
});

t.test('what arrives while a commit waits goes into the NEXT transaction, all together', async (t) => {
  const { store, file } = await open(t);
  // Another connection holds the write lock: the writer's first transaction waits for it (as it
  // would for an fsync), and ten more accepts arrive meanwhile.
  const blocker = openDatabase({ file });
  t.teardown(() => blocker.close());
  blocker.exec('BEGIN IMMEDIATE');
  const base = store.writerStats().commits;
  let firstDone = false;
  const first = store.queue.accept([message()]).then(() => (firstDone = true));
  await new Promise((r) => setTimeout(r, 150));
  const rest = Array.from({ length: 10 }, () => store.queue.accept([message()]));
  await new Promise((r) => setTimeout(r, 150));
  t.equal(firstDone, false, 'not resolved while its commit cannot happen');
  t.equal(count(file), 0);
  blocker.exec('COMMIT');
  await first;
  t.equal(count(file) >= 1, true, 'visible to another connection once resolved');
  await Promise.all(rest);
  t.equal(store.writerStats().commits - base, 2, 'one commit for the first, ONE for the ten that arrived during it');
  t.equal(count(file), 11);
});

t.test('a failing operation does not fail its batch-mates', async (t) => {
  const { store, file } = await open(t);
  const a = message();
  await store.queue.accept([a]);
  const base = store.writerStats().commits;
  const settled = await Promise.allSettled([
    store.queue.accept([message()]),
    store.queue.accept([message({ id: a.message.id })]),
    store.queue.accept([message()]),
    store.users.add('u', 'h', [], 1),
  ]);
  t.same(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  t.match((settled[1] as PromiseRejectedResult).reason, { code: 'FERRY_ERR_STORE', message: /UNIQUE/ });
  t.ok(store.writerStats().commits - base <= 2, 'shared a transaction (savepoints), not one each');
  t.equal(count(file), 3);
  t.equal((await store.recipients.forMessage(a.message.id)).length, 1, 'the duplicate left no recipient behind');
});

t.test('a dead writer thread is not silent: pending and later writes reject, the failure is reported once', async (t) => {
  const failures: FerryError[] = [];
  const { store } = await open(t, (err) => failures.push(err));
  await store.users.add('before', 'h', [], 1);
  await store.killWriter();
  // The thread's exit reaches the store as an event, a few turns later on a busy machine.
  await waitFor(() => !store.writable && failures.length > 0, 10_000, 'the dead writer to be noticed');
  t.equal(store.writable, false);
  t.equal(failures.length, 1);
  t.match(failures[0], { code: 'FERRY_ERR_STORE', message: /writer thread/ });
  await t.rejects(store.queue.accept([message()]), { code: 'FERRY_ERR_STORE' }, 'no 250 can be promised any more');
  t.ok(await store.users.get('before'), 'reads still answer from the read connection');
});

t.test('the writes of one event-loop turn cross to the writer in ONE message', async (t) => {
  const { store, file } = await open(t);
  const before = store.writerStats().posts;
  await Promise.all(Array.from({ length: 50 }, () => store.queue.accept([message()])));
  t.equal(store.writerStats().posts - before, 1, '50 accepts called in one turn: one postMessage');
  await store.queue.accept([message()]);
  await store.queue.accept([message()]);
  t.equal(store.writerStats().posts - before, 3, 'writes in later turns: one message each');
  t.equal(count(file), 52);
});

t.test('a large inline body is transferred to the writer (not copied) and stored intact', async (t) => {
  const { store } = await open(t);
  const big = message();
  const content = Buffer.alloc(64 * 1024);
  for (let i = 0; i < content.length; i++) content[i] = 0x41 + (i % 26);
  const body = Buffer.from(content); // a fresh allocation: the only view of its memory
  const small = message();
  const smallBody = small.message.body!;
  await store.queue.accept([{ ...big, message: { ...big.message, body, size: big.message.headers.length + body.length } }]);
  await store.queue.accept([small]);
  t.equal(body.byteLength, 0, 'the caller no longer holds the transferred body');
  t.equal(smallBody.byteLength, 6, 'a small (pooled) body is copied, the caller keeps it');
  const stored = await store.messages.get(big.message.id);
  t.ok(stored && Buffer.isBuffer(stored.body) && stored.body.equals(content), 'stored byte for byte');
});

t.test('a lone operation that fails (its own transaction, no savepoint) leaves nothing behind, and the writer goes on', async (t) => {
  const { store, file } = await open(t);
  const a = message();
  await store.queue.accept([a]);
  const dup = message({ id: a.message.id, recipients: ['other@example.net'] });
  await t.rejects(store.queue.accept([dup]), { code: 'FERRY_ERR_STORE', message: /UNIQUE/ });
  t.equal((await store.recipients.forMessage(a.message.id)).length, 1, 'no recipient of the failed accept was kept');
  await store.queue.accept([message()]);
  t.equal(count(file), 2);
});

t.test("a delivery attempt's fate commits without an fsync; every other origin, or an accept beside it, with one", async (t) => {
  const { store } = await open(t);
  const fate = planner();
  const m = message({ recipients: ['ok@one.test', 'late@one.test', 'old@one.test', 'next@one.test'], at: T0 });
  await store.queue.accept([m]);
  const byAddr = new Map((await store.recipients.forMessage(m.message.id)).map((r) => [r.address, r]));
  const ctx = { startedAt: T0, durationMs: 1, hop: { host: 'mx.one.test', ip: '127.0.0.2', port: 25, tls: null }, hops: [{ host: 'mx.one.test' }] };
  const attempt = (address: string, code: number) =>
    fate.plan([{ origin: 'attempt', recipient: byAddr.get(address)!, facts: { fact: code === 250 ? { kind: 'delivered', reply: { code, enhanced: '2.0.0', text: 'ok' } } : { kind: 'failed', phase: 'rcpt', reply: { code, enhanced: '4.3.0', text: 'later' } }, firstQueuedAt: T0, ctx } }], T0 + 1);
  const durable = () => store.writerStats().durableCommits;

  let before = durable();
  t.equal((await store.fates.record([...attempt('ok@one.test', 250), ...attempt('late@one.test', 451)]))[0]!.applied, true);
  t.equal(durable() - before, 0, 'delivered / deferred outcomes: no fsync (a loss on a power cut is one redelivery)');
  t.equal((await store.recipients.get(byAddr.get('ok@one.test')!.id))!.status, 'delivered', 'and committed');

  before = durable();
  const expiry = fate.plan([{ origin: 'expiry', recipient: byAddr.get('old@one.test')!, facts: { reason: 'too old' } }], T0 + 2);
  t.equal((await store.fates.record(expiry))[0]!.applied, true);
  t.equal(durable() - before, 1, 'an expiry (its report would be lost for good): fsync');

  before = durable();
  await Promise.all([store.fates.record(attempt('next@one.test', 250)), store.queue.accept([message()])]);
  t.equal(durable() - before, 1, 'an attempt outcome sharing a transaction with an accept: that transaction has its fsync');

  t.equal(isRelaxed({ group: 'fates', method: 'record', args: [[]] }), false, 'no plans: strict (nothing to relax)');
  t.equal(isRelaxed({ group: 'recipients', method: 'claim', args: [] }), true);
  t.equal(isRelaxed({ group: 'queue', method: 'accept', args: [] }), false);
});

// Relaxed work (claims, delivery fates) and durable commits (accepts): with a hold longer than any
// test, "held" and "not held" cannot be confused with a slow machine.
const LONG_HOLD_MS = 10 * 60_000;

t.test('while accepts commit, a claim waits for the next accept and shares its commit (one fsync, no commit of its own)', async (t) => {
  const { store } = await open(t, undefined, LONG_HOLD_MS);
  const first = message({ at: T0 });
  await store.queue.accept([first]);
  const base = store.writerStats();
  let claimed: Awaited<ReturnType<typeof store.recipients.claim>> | null = null;
  const claim = store.recipients.claim(T0 + 1, T0 + 60_000, 'node-a', 10).then((rows) => (claimed = rows));
  // Turns go by (the claim reaches the writer): it stays unanswered while no durable work comes.
  await new Promise((r) => setTimeout(r, 200));
  t.equal(claimed, null, 'the claim waits (a durable commit happened within the hold)');
  t.equal(store.writerStats().commits - base.commits, 0, 'no commit for the claim alone');
  await store.queue.accept([message({ at: T0 + 2 })]);
  await claim;
  t.same(claimed!.map((r) => r.messageId), [first.message.id], 'the claim ran first (arrival order): it saw the first message only');
  const after = store.writerStats();
  t.equal(after.commits - base.commits, 1, 'claim and accept: one transaction');
  t.equal(after.durableCommits - base.durableCommits, 1, 'with the accept\'s fsync');
  t.equal(after.operations - base.operations, 2);
});

t.test('with no durable commit within the hold, relaxed work commits at once on its own', async (t) => {
  const { store } = await open(t, undefined, LONG_HOLD_MS);
  const base = store.writerStats();
  // Nothing accepted since the store opened: a wait would last LONG_HOLD_MS (past the test's timeout).
  t.same(await store.recipients.claim(T0, T0 + 60_000, 'node-a', 10), []);
  const after = store.writerStats();
  t.equal(after.commits - base.commits, 1);
  t.equal(after.durableCommits - base.durableCommits, 0, 'without an fsync');
});

t.test('held relaxed work commits alone once the hold ends, and at close at the latest', async (t) => {
  const { store: short } = await open(t, undefined, 50);
  await short.queue.accept([message({ at: T0 })]);
  let base = short.writerStats();
  t.equal((await short.recipients.claim(T0 + 1, T0 + 60_000, 'node-a', 10)).length, 1, 'answered after the hold, no accept needed');
  t.equal(short.writerStats().commits - base.commits, 1);
  t.equal(short.writerStats().durableCommits - base.durableCommits, 0, 'its own commit, without an fsync');

  const { store: long, file } = await open(t, undefined, LONG_HOLD_MS);
  await long.queue.accept([message({ at: T0 })]);
  base = long.writerStats();
  const claim = long.recipients.claim(T0 + 1, T0 + 60_000, 'node-a', 10);
  await new Promise((r) => setTimeout(r, 100));
  await long.close();
  t.equal((await claim).length, 1, 'close commits what waits before the writer exits');
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.equal((db.prepare("SELECT count(*) AS n FROM recipients WHERE lease_owner = 'node-a'").get() as { n: number }).n, 1, 'and it is on disk');
});

t.test('WAL checkpoints run on the checkpointer thread every checkpointEvery commits: the messages reach the database file itself', async (t) => {
  const { store, file } = await open(t, undefined, undefined, 4);
  for (let i = 0; i < 20; i++) await store.queue.accept([message()]);
  await waitFor(() => store.writerStats().checkpoints >= 2, 10_000, 'two checkpoints');
  const stats = store.writerStats();
  t.ok(stats.checkpointedFrames > 0, `${stats.checkpointedFrames} WAL frames copied`);
  t.equal(stats.checkpointFailures, 0);
  // The database file alone, without its WAL: what the checkpoints copied into it.
  const copy = join(tempDir(t), 'copy.db');
  copyFileSync(file, copy);
  const db = new Database(copy, { readonly: true });
  t.teardown(() => db.close());
  const n = (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  t.ok(n >= 4 && n <= 20, `${n} of the 20 messages in the database file`);
});

t.test('checkpointEvery 0: no checkpointer thread, SQLite checkpoints inside commits as before', async (t) => {
  const { store, file } = await open(t, undefined, undefined, 0);
  for (let i = 0; i < 20; i++) await store.queue.accept([message()]);
  await store.close();
  t.equal(store.writerStats().checkpoints, 0);
  t.equal(count(file), 20);
});
