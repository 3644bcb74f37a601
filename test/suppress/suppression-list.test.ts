import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ManualClock } from '../../src/core/clock.js';
import { parseAddress } from '../../src/policy/addresses.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { exportSuppressions, importSuppressions, parseExpires } from '../../src/suppress/csv.js';
import { suppressionKey } from '../../src/suppress/normalize.js';
import { createSuppressionList } from '../../src/suppress/suppression-list.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { acceptWithFates } from '../helpers/fate.js';
import type { NewSuppression } from '../../src/core/store-types.js';

const DAY = 86_400_000;

function setup(t: Tap) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-suppress-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const clock = new ManualClock(Date.UTC(2026, 0, 15, 12));
  const deferred: (() => void)[] = [];
  const store = createInProcessSqliteStore(db);
  const list = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock, defer: (fn) => deferred.push(fn) });
  // The assertions read the table through the repository (synchronous); the list writes through the Store.
  const repo = createSuppressionsRepo(db);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const runDeferred = async () => {
    deferred.splice(0).forEach((fn) => fn());
    await new Promise((r) => setImmediate(r));
  };
  // The CSV import writes its batches through the Store (audited.importSuppressions, no actor: as the CLI does).
  const apply = (rows: NewSuppression[]) => store.audited.importSuppressions(rows, null);
  return { db, clock, list, repo, dir, runDeferred, store, apply };
}
type Tap = typeof t;

/** The RCPT-time answer of a SQLite store is synchronous: no promise, no turn of the event loop. */
function sync<T>(v: T | Promise<T>): T {
  if (v instanceof Promise) throw new Error('expected a synchronous answer from the SQLite lookup');
  return v;
}

t.test('normalization: case of the whole address, IDN domains in punycode, domain entries', async (t) => {
  t.same(suppressionKey('Bob.Smith@Example.COM'), { address: 'bob.smith@example.com', domain: 'example.com', isDomain: false });
  t.same(suppressionKey(' bob@bücher.example '), { address: 'bob@xn--bcher-kva.example', domain: 'xn--bcher-kva.example', isDomain: false });
  t.same(suppressionKey('@Bücher.Example'), { address: '@xn--bcher-kva.example', domain: 'xn--bcher-kva.example', isDomain: true });
  t.same(suppressionKey('*@example.com'), { address: '@example.com', domain: 'example.com', isDomain: true });
  for (const bad of ['', 'bob', 'bob@', '@', 'a b@example.com', 'bob@exa mple.com', '@[127.0.0.1]', 'bob@-bad-.com']) {
    t.equal(suppressionKey(bad), null, `refused: ${JSON.stringify(bad)}`);
  }
});

t.test('suppress and check: any spelling of the address matches, IDN or punycode', async (t) => {
  const { list, repo } = setup(t);
  const { entry, created } = (await list.suppress('Bob@Bücher.Example', 'user_unknown', '550 5.1.1 no such user', 'bounce'));
  t.ok(created);
  t.equal(entry.address, 'bob@xn--bcher-kva.example');
  t.equal(entry.domain, 'xn--bcher-kva.example');
  t.equal(entry.scope, null);
  for (const spelling of ['bob@bücher.example', 'BOB@BÜCHER.EXAMPLE', 'Bob@xn--bcher-kva.example']) {
    t.equal(sync(list.check(spelling, null))?.address, 'bob@xn--bcher-kva.example', spelling);
  }
  t.equal(sync(list.check(parseAddress('BoB@xn--BCHER-kva.example')!, null))?.category, 'user_unknown', 'a parsed RCPT address');
  t.equal(sync(list.check('bobby@bücher.example', null)), null, 'another address of the domain is not suppressed');
  t.equal(sync(list.check('not an address', null)), null);
});

t.test('whole-domain entries suppress every address of the domain, not its subdomains', async (t) => {
  const { list, repo } = setup(t);
  (await list.suppress('@Example.ORG', 'domain_invalid', 'null MX', 'bounce'));
  t.equal(sync(list.check('anyone@example.org', null))?.address, '@example.org');
  t.equal(sync(list.check('X@EXAMPLE.ORG', 'app1'))?.address, '@example.org', 'global entries apply to every user');
  t.equal(sync(list.check('anyone@sub.example.org', null)), null);
  t.equal(sync(list.check('anyone@example.org.evil', null)), null);
  (await list.suppress('bob@example.org', 'user_unknown', '550 5.1.1', 'bounce'));
  t.equal(sync(list.check('bob@example.org', null))?.address, 'bob@example.org', 'the address entry wins over the domain entry');
  t.equal((await list.find('@example.org', null))?.category, 'domain_invalid', 'find accepts a domain key');
  t.ok((await list.unsuppress('@example.org')));
  t.equal(sync(list.check('anyone@example.org', null)), null);
});

t.test('scope: a user entry applies to that user only; global entries to everyone', async (t) => {
  const { list, repo } = setup(t);
  (await list.suppress('carol@example.com', 'complaint', 'marked as spam', 'complaint', { user: 'app1' }));
  t.equal(sync(list.check('carol@example.com', 'app1'))?.scope, 'app1');
  t.equal(sync(list.check('carol@example.com', 'app2')), null, "another application's mail still goes");
  t.equal(sync(list.check('carol@example.com', null)), null, 'unauthenticated relaying is not app1');
  (await list.suppress('carol@example.com', 'user_unknown', '550 5.1.1', 'bounce'));
  t.equal(sync(list.check('carol@example.com', 'app2'))?.scope, null);
  t.equal(sync(list.check('carol@example.com', 'app1'))?.scope, null, 'global first');
  t.equal(repo.forAddress('carol@example.com').length, 2, 'two entries, one per scope');
  t.notOk((await list.unsuppress('carol@example.com', 'app2')), 'app2 had no entry');
  t.ok((await list.unsuppress('carol@example.com')));
  t.equal(sync(list.check('carol@example.com', 'app2')), null);
  t.equal(sync(list.check('carol@example.com', 'app1'))?.scope, 'app1', 'removing the global entry keeps the scoped one');
});

t.test('expiry: an expired entry no longer applies, and re-suppressing starts it afresh', async (t) => {
  const { list, repo, clock, runDeferred } = setup(t);
  const t0 = clock.now();
  (await list.suppress('dave@example.com', 'mailbox_full', 'over quota', 'bounce', { expiresAt: t0 + 3 * DAY }));
  t.ok(sync(list.check('dave@example.com', null)));
  await runDeferred();
  clock.advance(3 * DAY - 1);
  t.ok(sync(list.check('dave@example.com', null)), 'still applies a millisecond before');
  await runDeferred();
  clock.advance(1);
  t.equal(sync(list.check('dave@example.com', null)), null, 'expired');
  t.equal(repo.get('dave@example.com', null)?.hits, 2, 'the row stays (shown as expired) until cleared');
  const again = (await list.suppress('dave@example.com', 'mailbox_full', 'over quota again', 'bounce', { expiresAt: clock.now() + DAY }));
  t.notOk(again.created, 'same row');
  t.equal(again.entry.createdAt, clock.now(), 'since: the new suppression');
  t.equal(again.entry.hits, 0, 'hits reset');
  // a live entry that is refreshed keeps its since date and hits
  (await list.suppress('erin@example.com', 'manual', 'first', 'manual'));
  sync(list.check('erin@example.com', null));
  await runDeferred();
  clock.advance(DAY);
  const refreshed = (await list.suppress('erin@example.com', 'user_unknown', 'second', 'bounce')).entry;
  t.equal(refreshed.createdAt, clock.now() - DAY);
  t.equal(refreshed.hits, 1);
  t.equal(refreshed.reason, 'second');
  t.equal(refreshed.category, 'user_unknown');
});

t.test('hits: counted per check, written in one batch per turn', async (t) => {
  const { list, repo, clock, runDeferred } = setup(t);
  (await list.suppress('frank@example.com', 'user_unknown', 'x', 'bounce'));
  t.equal(sync(list.check('frank@example.com', null))?.hits, 1, 'check returns the entry with this hit counted');
  sync(list.check('FRANK@example.com', null));
  clock.advance(1000);
  sync(list.check('frank@example.com', null));
  t.equal(repo.get('frank@example.com', null)?.hits, 0, 'not written yet');
  await runDeferred();
  const row = repo.get('frank@example.com', null)!;
  t.equal(row.hits, 3);
  t.equal(row.lastHitAt, clock.now());
  (await list.find('frank@example.com', null));
  await runDeferred();
  t.equal(repo.get('frank@example.com', null)?.hits, 3, 'find records nothing');
});

t.test('hits with the default scheduler land on the next turn; a store that cannot take them is logged, not an error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-suppress-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const store = createInProcessSqliteStore(db);
  const warned: object[] = [];
  const list = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock: new ManualClock(), logger: { warn: (o: object) => void warned.push(o) } });
  await list.suppress('gina@example.com', 'manual', 'x', 'manual');
  sync(list.check('gina@example.com', null));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(createSuppressionsRepo(db).get('gina@example.com', null)?.hits, 1);
  sync(list.check('gina@example.com', null));
  db.close();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(warned.length, 1, 'the lost hit counts are said once');
});

t.test('a store that answers later (a PostgreSQL cache miss): check returns a promise of the same answer', async (t) => {
  const { db, clock } = setup(t);
  const store = createInProcessSqliteStore(db);
  const later = {
    lookup: (...a: Parameters<typeof store.suppressionLookup.lookup>) => Promise.resolve(store.suppressionLookup.lookup(...a)),
    get: (...a: Parameters<typeof store.suppressionLookup.get>) => Promise.resolve(store.suppressionLookup.get(...a)),
  };
  const deferred: (() => void)[] = [];
  const list = createSuppressionList({ store: store.suppressions, lookup: later, clock, defer: (fn) => deferred.push(fn) });
  await list.suppress('@late.test', 'domain_invalid', 'gone', 'bounce');
  await list.suppress('kim@example.com', 'complaint', 'spam', 'complaint', { user: 'app1' });
  const pending = list.check('anyone@late.test', 'app1');
  t.ok(pending instanceof Promise);
  t.equal((await pending)?.address, '@late.test');
  t.equal((await list.check('kim@example.com', 'app1'))?.scope, 'app1');
  t.equal(await list.check('kim@example.com', null), null);
  t.equal(deferred.length, 1, 'hits recorded as with a synchronous answer');
});

t.test('suppress refuses bad input; unsuppress of an unknown address is false', async (t) => {
  const { list, repo } = setup(t);
  await t.rejects(list.suppress('nope', 'manual', '', 'manual'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(list.suppress('a@example.com', 'made_up', '', 'manual'), { code: 'FERRY_ERR_USAGE' });
  t.notOk((await list.unsuppress('a@example.com')));
  t.notOk((await list.unsuppress('not an address')));
});

t.test('repository: list filters, count, clear, iterate', async (t) => {
  const { list, repo, clock } = setup(t);
  (await list.suppress('a@one.test', 'user_unknown', '550 5.1.1 User unknown', 'bounce'));
  clock.advance(DAY);
  (await list.suppress('b@one.test', 'mailbox_disabled', 'account disabled', 'bounce'));
  (await list.suppress('@two.test', 'domain_invalid', 'NXDOMAIN', 'bounce'));
  clock.advance(DAY);
  (await list.suppress('c_d@two.test', 'manual', 'asked us 100%', 'manual', { user: 'app1' }));
  (await list.suppress('cxd@two.test', 'complaint', 'spam report', 'complaint'));

  const addrs = (f: Parameters<typeof repo.list>[0]) => repo.list(f, 100).map((r) => r.address);
  t.same(addrs({}), ['cxd@two.test', 'c_d@two.test', '@two.test', 'b@one.test', 'a@one.test'], 'newest first');
  t.same(addrs({ domain: 'two.test' }).sort(), ['@two.test', 'c_d@two.test', 'cxd@two.test']);
  t.same(addrs({ category: 'user_unknown' }), ['a@one.test']);
  t.same(addrs({ source: 'bounce' }).length, 3);
  t.same(addrs({ since: clock.now() - DAY }).length, 4);
  t.same(addrs({ search: 'c_d' }), ['c_d@two.test'], 'LIKE wildcards in the search text are literal');
  t.same(addrs({ search: '100%' }), ['c_d@two.test']);
  t.same(addrs({ search: 'UNKNOWN' }), ['a@one.test'], 'reason text, case-insensitive');
  t.same(addrs({ scope: 'app1' }), ['c_d@two.test']);
  t.same(addrs({ scope: null }).length, 4);
  t.equal(repo.list({}, 2).length, 2);
  t.equal(repo.count({ domain: 'two.test' }), 3);
  t.equal(repo.count(), 5);

  t.equal(repo.clear({ category: 'complaint' }), 1);
  t.equal(repo.clear({ before: clock.now() - DAY }), 1, 'created before');
  t.equal(repo.clear({ domain: 'two.test' }), 2);
  t.same([...repo.iterate()].map((r) => r.address), ['b@one.test']);
  t.equal(repo.clear({}), 1);
  t.equal(repo.count(), 0);
});

t.test('the lookup uses the unique index', async (t) => {
  const { db } = setup(t);
  const plan = db
    .prepare("EXPLAIN QUERY PLAN SELECT * FROM suppressions WHERE address IN ('a@b.c', '@b.c') AND scope IN ('', 'u') AND (expires_at IS NULL OR expires_at > 0) LIMIT 1")
    .all() as { detail: string }[];
  t.match(plan.map((p) => p.detail).join('\n'), /USING INDEX suppressions_address_scope \(address=\? AND scope=\?\)/);
});

t.test('drops: the dropped events of an address or a domain, with the sender', async (t) => {
  const { db, list, repo, clock } = setup(t);
  // Intake as main.ts does it: the `dropped` event is the fate of a recipient born dropped.
  const message = (id: string, rcpts: { address: string; status: 'queued' | 'dropped' }[]) =>
    acceptWithFates(db, [
      {
        message: {
          id, createdAt: clock.now(), sender: 'app@sender.test', username: 'app1', clientIp: '127.0.0.1', helo: 'x', tls: null,
          size: 10, headers: Buffer.from('Subject: x\r\n\r\n'), body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null,
          messageIdHeader: null, subject: 'x', eightBit: false, smtputf8: false, kind: 'submission',
        },
        recipients: rcpts.map((r) => ({ address: r.address, domain: r.address.split('@')[1]!, status: r.status, reason: r.status === 'dropped' ? 'on the suppression list: x' : null, category: r.status === 'dropped' ? 'manual' : null })),
      },
    ] as never);
  message('Q1', [{ address: 'Bob@drop.test', status: 'dropped' }, { address: 'ann@keep.test', status: 'queued' }]);
  clock.advance(1000);
  message('Q2', [{ address: 'bob@drop.test', status: 'dropped' }, { address: 'zed@drop.test', status: 'dropped' }]);
  const bob = repo.drops('bob@drop.test', 10);
  t.same(bob.map((d) => [d.messageId, d.recipient, d.sender, d.username, d.reason]), [
    ['Q2', 'bob@drop.test', 'app@sender.test', 'app1', 'on the suppression list: x'],
    ['Q1', 'Bob@drop.test', 'app@sender.test', 'app1', 'on the suppression list: x'],
  ]);
  t.same(repo.drops('@drop.test', 10).map((d) => d.recipient), ['zed@drop.test', 'bob@drop.test', 'Bob@drop.test']);
  t.same(repo.drops('ann@keep.test', 10), [], 'queued recipients are not drops');
});

t.test('import: bad rows skipped by line number, duplicates: the last line wins', async (t) => {
  const { repo, clock, apply } = setup(t);
  const bad: [number, string][] = [];
  const csv = [
    'Address,Reason,Category,Expires',
    'one@example.com,first,user_unknown,',
    'not-an-address,x,manual,',
    '"two@Example.com","has, a comma",manual,30d',
    'three@example.com,x,nonsense,',
    '',
    'four@example.com,x,manual,soon',
    '@whole.test,domain gone,domain_invalid,2026-12-31',
    'one@example.com,second,mailbox_disabled,',
    'five@example.com,x,manual,,extra',
    'six@example.com',
  ].join('\n');
  const res = await importSuppressions({ apply, input: Readable.from([csv]), clock, onBadRow: (l, p) => bad.push([l, p]) });
  t.same(res, { imported: 5, skipped: 4 });
  t.same(bad.map((b) => b[0]), [3, 5, 7, 10]);
  t.match(bad[0]![1], 'not-an-address');
  t.match(bad[1]![1], 'nonsense');
  t.match(bad[2]![1], 'soon');
  t.match(bad[3]![1], '5 fields');
  t.equal(repo.count(), 4);
  const one = repo.get('one@example.com', null)!;
  t.equal(one.reason, 'second');
  t.equal(one.category, 'mailbox_disabled');
  t.equal(one.source, 'import');
  const two = repo.get('two@example.com', null)!;
  t.equal(two.reason, 'has, a comma');
  t.equal(two.expiresAt, clock.now() + 30 * DAY);
  t.equal(repo.get('@whole.test', null)!.expiresAt, Date.UTC(2026, 11, 31));
  t.equal(repo.get('six@example.com', null)!.category, 'manual', 'default category');
});

t.test('import: a file without a valid header changes nothing', async (t) => {
  const { list, repo, clock, apply } = setup(t);
  (await list.suppress('keep@example.com', 'manual', '', 'manual'));
  for (const csv of ['', 'email,reason\nx@example.com,y\n', 'reason,category\nx,manual\n', 'a@example.com,reason\n', 'address,address\n']) {
    await t.rejects(importSuppressions({ apply, input: Readable.from([csv]), clock }), { code: 'FERRY_ERR_NOT_FOUND', message: /header/ }, JSON.stringify(csv));
  }
  t.equal(repo.count(), 1);
});

t.test('import: a binary file gets one error about its header, not a report per row', async (t) => {
  const { repo, clock, apply } = setup(t);
  // Bytes that start with a one-column "header" and then break CSV quoting on many lines.
  const junk = Buffer.concat([Buffer.from('\x01\x02junk\n'), ...Array.from({ length: 40 }, (_, i) => Buffer.from(`x${i}"\xff\xfe${'\x00'.repeat(300)}"y\n`, 'latin1'))]);
  const bad: [number, string][] = [];
  await t.rejects(importSuppressions({ apply, input: Readable.from([junk]), clock, onBadRow: (l, p) => bad.push([l, p]) }), { message: /line 1: no valid header/ });
  t.same(bad, [], 'no row reports before the header was found wanting');

  // With a good header, unreadable rows are reported, each message clipped.
  const csv = Buffer.concat([Buffer.from('address\n'), Buffer.from(`a"${'z'.repeat(2000)}"b\n`), Buffer.from('ok@example.com\n')]);
  const res = await importSuppressions({ apply, input: Readable.from([csv]), clock, onBadRow: (l, p) => bad.push([l, p]) });
  t.equal(res.imported, 1, 'the good row is imported');
  t.ok(res.skipped >= 1 && bad.length === res.skipped, 'the bad row is reported');
  t.ok(bad.every(([, why]) => why.length < 250), `every report is clipped (${bad.map(([, why]) => why.length).join(', ')} characters)`);
});

t.test('import: an unreadable quote is skipped with its line; export re-imports to the same list', async (t) => {
  const { list, repo, clock, apply, store } = setup(t);
  const bad: number[] = [];
  const csv = 'address,reason\nok1@example.com,fine\nbad@example.com,"unterminated\nok2@example.com,fine\n';
  const res = await importSuppressions({ apply, input: Readable.from([csv]), clock, onBadRow: (l) => bad.push(l) });
  t.ok(res.skipped >= 1, 'the broken row is skipped');
  t.ok(repo.get('ok1@example.com', null));

  (await list.suppress('"Quo,ted"@example.com', 'complaint', 'said "stop", twice\nand more', 'complaint', { user: 'app1', expiresAt: clock.now() + DAY }));
  (await list.suppress('@domain.test', 'domain_invalid', ' padded ', 'bounce'));
  const out = new (await import('node:stream')).PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const n = await exportSuppressions(store.suppressions, out, 'csv');
  t.equal(n, repo.count());
  t.match(text, /^address,reason,category,expires,user\n/);

  const other = setup(t);
  const again = await importSuppressions({ apply: other.apply, input: Readable.from([text]), clock });
  t.same(again, { imported: n, skipped: 0 });
  const pick = (r: typeof repo) => [...r.iterate()].map((r) => [r.address, r.reason, r.category, r.expiresAt, r.scope]).sort();
  t.same(pick(other.repo), pick(repo));
});

t.test('import: written in batches, each committed before the file is read further; the totals go with the last', async (t) => {
  const { repo, clock, store } = setup(t);
  const calls: { rows: string[]; totals: unknown; before: number }[] = [];
  let release = null as (() => void) | null;
  let writing = 0;
  const apply = async (rows: NewSuppression[], totals: unknown) => {
    calls.push({ rows: rows.map((r) => r.address), totals, before: repo.count() });
    writing++;
    t.equal(writing, 1, 'one write at a time');
    // The second batch is held until the test lets it go: nothing more is read meanwhile.
    if (calls.length === 2) await new Promise<void>((r) => (release = r));
    await store.audited.importSuppressions(rows, null);
    writing--;
  };
  const lines = ['address', ...Array.from({ length: 10 }, (_, i) => `u${i}@batch.test`), 'not an address', 'u0@batch.test'];
  const done = importSuppressions({ apply, input: Readable.from([lines.join('\n')]), clock, batchSize: 3, onBadRow: () => undefined });
  while (!release) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 2, 'the reading waits for the write in progress');
  t.equal(repo.count(), 3, 'the first batch is committed');
  release!();
  t.same(await done, { imported: 11, skipped: 1 });
  t.same(calls.map((c) => c.rows.length), [3, 3, 3, 2]);
  t.same(calls.map((c) => c.before), [0, 3, 6, 9], 'each batch committed before the next is written');
  t.same(calls.map((c) => c.totals), [null, null, null, { imported: 11, skipped: 1 }], 'the totals with the last batch only');
  t.equal(repo.count(), 10, 'a repeated address is one entry');
});

t.test('import: a file that cannot be read to its end keeps the rows before it; the error names the line', async (t) => {
  const { repo, clock, store } = setup(t);
  const totals: unknown[] = [];
  let written = 0;
  const input = new Readable({ read() {} });
  const apply = async (rows: NewSuppression[], total: unknown) => {
    await store.audited.importSuppressions(rows, null);
    written += rows.length;
    if (total) totals.push(total);
    // Two rows in: the disk fails under the rest of the file.
    if (written === 2 && !total) setImmediate(() => input.destroy(new Error('EIO: i/o error, read')));
  };
  input.push('address,reason\nann@example.com,first\n"bob@example.com",second\ncy@example.com,third');
  const err = await importSuppressions({ apply, input, clock, batchSize: 1 }).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  t.match(err, { code: 'FERRY_ERR_STORE', message: /^import stopped at line 3: EIO: i\/o error, read; 2 rows were imported before it, nothing after$/ });
  t.ok(repo.get('ann@example.com', null) && repo.get('bob@example.com', null), 'the rows before the stop are kept');
  t.equal(repo.get('cy@example.com', null), undefined);
  t.match(totals, [{ imported: 2, skipped: 0, stopped: 'line 3: EIO: i/o error, read' }], 'the last write is told where it stopped');

  // A write that fails stops the import the same way, naming its line; nothing is written after it.
  const failing = async (rows: NewSuppression[]) => {
    if (rows.some((r) => r.address === 'b@fail.test')) throw new Error('disk full');
    await store.audited.importSuppressions(rows, null);
  };
  const csv = 'address\na@fail.test\nb@fail.test\nc@fail.test\n';
  await t.rejects(importSuppressions({ apply: failing, input: Readable.from([csv]), clock, batchSize: 1 }), { message: /^import stopped at line 3: disk full; 1 row was imported before it, nothing after$/ });
  t.ok(repo.get('a@fail.test', null));
  t.equal(repo.get('c@fail.test', null), undefined);
});

t.test('parseExpires', async (t) => {
  t.equal(parseExpires('', 1000), null);
  t.equal(parseExpires('2h', 1000), 1000 + 7_200_000);
  t.equal(parseExpires('2026-02-01', 0), Date.UTC(2026, 1, 1));
  t.equal(parseExpires('2026-02-01T10:00:00Z', 0), Date.UTC(2026, 1, 1, 10));
  t.equal(parseExpires('tomorrow', 0), undefined);
  t.equal(parseExpires('12345', 0), undefined);
});

t.test('the migration refuses a duplicate (address, scope) for global entries too', async (t) => {
  const { db } = setup(t);
  const ins = db.prepare("INSERT INTO suppressions (address, domain, category, source, created_at) VALUES ('x@y.z', 'y.z', 'manual', 'manual', 0)");
  ins.run();
  t.throws(() => ins.run(), /UNIQUE/);
  t.throws(() => db.prepare("INSERT INTO suppressions (address, domain, category, source, created_at) VALUES ('x@q.z', 'q.z', 'manual', 'elsewhere', 0)").run(), /CHECK/);
  void (db as Db);
});
