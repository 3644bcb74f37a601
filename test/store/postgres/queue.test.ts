import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { accepted } from '../../helpers/store.js';
import { message } from '../contract/fixtures.js';
import { dropPlans, planner } from '../contract/groups.js';
import { tempDir } from '../../helpers/relay.js';
import { openPostgresStore } from '../../../src/store/postgres/engine.js';
import { PG_MIGRATIONS } from '../../../src/store/postgres/migrations/index.js';

t.test('two nodes starting together migrate once, under the advisory lock', async (t) => {
  const { url } = await testPg();
  const [a, b] = await Promise.all([openTestStore(t, url, 'a'), openTestStore(t, url, 'b')]);
  const r = await a.pool.query('SELECT version FROM ferry_schema_migrations ORDER BY version');
  t.same(r.rows.map((x) => x.version), PG_MIGRATIONS.map((m) => m.version).sort((x, y) => x - y), 'each migration recorded once');
  t.same((await b.nodes.list(Date.now())).map((n) => n.name), ['a', 'b']);
});

t.test('a wrong URL is one clear error without the password', async (t) => {
  const { server } = await testPg();
  const url = `postgres://postgres:s3cret@127.0.0.1:${server.port}/no_such_db`;
  const err = await openPostgresStore({ url, poolSize: 1, nodeName: 'x', version: 't', heartbeatMs: 1000, now: Date.now }).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, 'FERRY_ERR_STORE');
  t.notMatch(err?.message ?? '', /s3cret/, 'password redacted');
  t.match(err?.message ?? '', /no_such_db/);
});

t.test('accept commits message, body, recipients and events together; concurrent accepts share commits', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  const batch = Array.from({ length: 60 }, (_, i) => accepted({ id: `Q${i}`, recipients: ['a@x.test', 'b@y.test'] }));
  // One intake per message, all at once: they must share commits, and each resolves after its commit.
  await Promise.all(batch.map((m) => s.queue.accept([m])));
  const { commits } = s.queue.stats();
  t.ok(commits < 60 && commits >= 1, `60 accepts in ${commits} commits`);
  const m = await s.messages.get('Q7');
  t.equal(m?.body?.toString(), 'body\r\n', 'small body read back whole');
  t.equal(m?.spoolFile, null);
  t.same((await s.recipients.forMessage('Q7')).map((r) => [r.address, r.status]), [
    ['a@x.test', 'queued'],
    ['b@y.test', 'queued'],
  ]);
  const ev = await s.events.forMessage('Q7');
  t.same(ev.map((e) => e.type), ['queued', 'queued']);
  t.equal(ev[0]!.recipientId, (await s.recipients.forMessage('Q7'))[0]!.id);

  // Concurrent calls with recipients born dropped share commits too; each call's drop fates get
  // the ids of its own recipients and come back to that call only.
  const drops = Array.from({ length: 20 }, (_, i) => {
    const m = message({ id: `QD${i}`, recipients: ['ok@z.test'], dropped: [`gone${i}@z.test`, `gone${i}b@z.test`] });
    m.dropFates = dropPlans(m);
    return m;
  });
  const before = s.queue.stats().commits;
  const results = await Promise.all(drops.map((m) => s.queue.accept([m])));
  t.ok(s.queue.stats().commits - before < 20, `20 accepts with drop fates in ${s.queue.stats().commits - before} commits`);
  for (const [i, m] of drops.entries()) {
    const rs = await s.recipients.forMessage(m.message.id);
    const gone = rs.filter((r) => r.status === 'dropped');
    t.same(results[i]!.map((r) => [r.plan.recipientId, r.plan.address, r.applied]), gone.map((r) => [r.id, r.address, true]), `call ${i}: its own fates, with its ids`);
    t.same((await s.events.forMessage(m.message.id)).map((e) => [e.type, e.recipientId]), rs.map((r) => [r.status === 'dropped' ? 'dropped' : 'queued', r.id]));
    t.equal(gone[0]!.nextAttemptAt, null, 'dropped: never due');
  }
  t.equal(await s.dsnOutbox.count(), 20, "one report per message for its dropped recipients");
  const bad = message({ id: 'QBAD', dropped: ['x@z.test'] });
  const good = message({ id: 'QGOOD' });
  const [badR, goodR] = await Promise.allSettled([s.queue.accept([{ ...bad, dropFates: [...dropPlans(bad), ...dropPlans(bad)] }]), s.queue.accept([good])]);
  t.equal(badR.status, 'rejected', 'drop fates that do not match the dropped recipients fail the call');
  t.equal(await s.messages.get('QBAD'), undefined, 'and write nothing of it');
  t.equal(goodR.status, 'fulfilled', 'its neighbour commits');
});

t.test('each accept resolves only once its commit is visible to another connection (the 250 follows the commit)', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.teardown(() => other.end());
  const ms = Array.from({ length: 40 }, (_, i) => accepted({ id: `V${i}` }));
  const before = s.queue.stats().commits;
  const seen = await Promise.all(
    ms.map((m) => s.queue.accept([m]).then(async () => (await other.query('SELECT 1 FROM messages WHERE id = $1', [m.message.id])).rowCount === 1)),
  );
  t.same(seen, ms.map(() => true), 'every message was committed when its accept resolved');
  t.ok(s.queue.stats().commits - before < 40, `40 concurrent accepts in ${s.queue.stats().commits - before} commits`);
});

t.test('one bad message does not fail the others of its commit', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  await s.queue.accept([accepted({ id: 'DUP' })]);
  const results = await Promise.allSettled([s.queue.accept([accepted({ id: 'OK1' })]), s.queue.accept([accepted({ id: 'DUP' })]), s.queue.accept([accepted({ id: 'OK2' })])]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.ok(await s.messages.getSummary('OK2'));
});

t.test('a 10 MB body is streamed into chunks and back out, never whole', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  const file = join(tempDir(t), 'big.eml');
  const hash = createHash('sha256');
  let n = 0;
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < 40; i++) {
          const b = randomBytes(256 * 1024);
          hash.update(b);
          n += b.length;
          yield b;
        }
      })(),
    ),
    createWriteStream(file),
  );
  const m = accepted({ id: 'BIG', spoolFile: file });
  m.message.size = m.message.headers.length + n;
  await s.queue.accept([m]);
  const got = await s.messages.get('BIG');
  t.equal(got?.body, null, 'a large body is not loaded by get()');
  t.same(await s.messages.bodyInfo('BIG'), { held: true, bytes: n });
  const chunks = await s.pool.query<{ n: number; max: number }>("SELECT count(*)::int AS n, max(length(data))::int AS max FROM message_chunks WHERE message_id = 'BIG'");
  t.same(chunks.rows[0], { n: 40, max: 256 * 1024 }, '40 chunks of 256 KB');
  const out = createHash('sha256');
  let biggest = 0;
  await new Promise<void>((resolve, reject) => {
    s.messages
      .openBody('BIG')
      .on('data', (c: Buffer) => {
        biggest = Math.max(biggest, c.length);
        out.update(c);
      })
      .on('end', resolve)
      .on('error', reject);
  });
  t.equal(out.digest('hex'), hash.digest('hex'), 'same bytes back');
  t.ok(biggest <= 256 * 1024, 'streamed a chunk at a time');

  t.equal(await s.messages.markBodyLost('BIG', 5), true);
  t.equal(await s.messages.markBodyLost('BIG', 6), false, 'reported once');
  t.same(await s.messages.bodyInfo('BIG'), { held: false, bytes: n });
});

t.test('signing, listing and counting messages', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  for (let i = 0; i < 5; i++) await s.queue.accept([accepted({ id: `L${i}`, at: 1_000 + i, recipients: [`r${i}@x.test`] })]);
  t.same((await s.messages.list({ limit: 2 })).map((m) => m.id), ['L4', 'L3']);
  t.same((await s.messages.list({ limit: 10, before: { createdAt: 1_003, id: 'L3' } })).map((m) => m.id), ['L2', 'L1', 'L0']);
  t.same((await s.messages.list({ limit: 10, recipient: 'R2@x.test' })).map((m) => m.id), ['L2']);
  t.equal(await s.messages.count({ status: 'queued' }, 3), 4, 'count stops at cap + 1');
  const before = (await s.messages.getSummary('L1'))!;
  t.equal(await s.messages.markSigned('L1', Buffer.from('DKIM-Signature: x\r\n' + 'Received: test\r\nSubject: L1\r\n\r\n'), 77), true);
  t.equal(await s.messages.markSigned('L1', Buffer.from('x'), 78), false, 'signed once');
  t.equal(await s.messages.signedAt('L1'), 77);
  t.equal((await s.messages.getSummary('L1'))!.size, before.size + 'DKIM-Signature: x\r\n'.length);
});

t.test('expiry through fates: two nodes sweeping the same overdue recipient write its fate once', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'n1');
  const b = await openTestStore(t, url, 'n2');
  await a.queue.accept([accepted({ id: 'E2', at: 1_000, recipients: ['c@x.test', 'd@x.test'] })]);
  const rs = await a.recipients.forMessage('E2');
  await a.recipients.releaseMany(rs.map((r) => ({ id: r.id, at: 1_000_000, reason: 'rate limited' })));
  const fate = planner();
  const sweep = async (s: typeof a) => s.fates.record(fate.plan((await s.recipients.overdue(100_000, 50_000, 10)).map((r) => ({ origin: 'expiry' as const, recipient: r, facts: { reason: 'too old' } })), 100_000));
  const [ra, rb] = await Promise.all([sweep(a), sweep(b)]);
  const applied = [...ra, ...rb].filter((r) => r.applied).map((r) => r.plan.address).sort();
  t.same(applied, ['c@x.test', 'd@x.test'], 'each recipient expired by exactly one node');
  t.same((await a.events.forMessage('E2')).filter((e) => e.type === 'expired').length, 2, 'one expired event each');
  t.equal(await a.dsnOutbox.count() <= 2, true, 'at most one report per sweep');
  t.same((await a.recipients.forMessage('E2')).map((r) => r.status), ['expired', 'expired']);
});

t.test('fate calls over several domains in opposite orders, at once, never deadlock (the rollup locks in one order)', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'n1');
  const b = await openTestStore(t, url, 'n2');
  const ms = Array.from({ length: 20 }, (_, i) => message({ id: `DL${i}`, recipients: ['x@d1.test', 'y@d2.test', 'z@d3.test'] }));
  await a.queue.accept(ms);
  const fate = planner();
  const calls = await Promise.all(
    ms.map(async (m, i) => {
      const rs = await a.recipients.forMessage(m.message.id);
      const ordered = i % 2 ? rs : [...rs].reverse();
      const plans = fate.plan(ordered.map((r) => ({ origin: 'expiry' as const, recipient: r, facts: { reason: 'too old' } })), 5_000_000_000_000);
      return (i % 2 ? a : b).fates.record(plans);
    }),
  );
  t.equal(calls.flat().filter((r) => r.applied).length, 60, 'every plan applied, no call failed');
});

t.test('the pool speaks with synchronous_commit on whatever the server default', async (t) => {
  const { url } = await testPg();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET synchronous_commit = off`);
  await admin.end();
  const s = await openTestStore(t, url, 'n1');
  const r = await s.pool.query("SELECT current_setting('synchronous_commit') AS v");
  t.equal(r.rows[0].v, 'on');
});

t.test('a large body does not hold small accepts behind it', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  const file = join(tempDir(t), 'big.eml');
  await pipeline(Readable.from((function* () { for (let i = 0; i < 40; i++) yield randomBytes(256 * 1024); })()), createWriteStream(file));
  const big = accepted({ id: 'HOL-BIG', spoolFile: file });
  big.message.size = big.message.headers.length + 40 * 256 * 1024;
  let bigDone = false;
  const bigAccept = s.queue.accept([big]).then(() => (bigDone = true));
  await s.queue.accept([accepted({ id: 'HOL-SMALL' })]);
  t.equal(bigDone, false, 'the small message was committed while the large one was still streaming');
  await bigAccept;
  t.same(await s.messages.bodyInfo('HOL-BIG'), { held: true, bytes: 40 * 256 * 1024 });
});

t.test('one live node per name; a crashed node may restart under its name at once', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'same');
  const err = await openPostgresStore({ url, poolSize: 1, nodeName: 'same', version: 't', heartbeatMs: 1000, now: Date.now }).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, 'FERRY_ERR_LOCKED');
  t.match(err?.message ?? '', /another node named same is running on this store/);
  await a.crash();
  const again = await openTestStore(t, url, 'same');
  t.equal(again.nodeName, 'same');
});
