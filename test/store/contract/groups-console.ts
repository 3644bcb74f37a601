import type { Test } from 'tap';
import type { EngineFactory } from './engines.js';
import { message } from './fixtures.js';
import type { Store } from '../../../src/core/store.js';
import type { RecipientHit } from '../../../src/core/console-store.js';
import type { AcceptedMessage, LimitStateRow, NewSuppression, SuppressionRow } from '../../../src/core/store-types.js';

const T0 = 1_760_000_000_000;
const H = 3_600_000;

/**
 * The web console's reads (recipients.search, suppressions.byId / browse, limits.slowed,
 * stats.hourly / topDomains / hourlyCategories, queueAdmin.destinations), keyed by the Store
 * group each belongs to; contract.test.ts runs each after that group's own contract, on every
 * engine, with the same assertions. The data is chosen so that a wrong answer shows: filters
 * that exclude rows, ties that an order must break, NULLs in a sorted column, pages that cross a
 * cursor, empty results. Text that orders differently by bytes than by a language's rules
 * (`-`, `_`, digits, capitals) is in the data too: test/store/postgres/console.test.ts runs these
 * on a database whose collation is a language's, where the engine must still order by bytes.
 * Results are compared with strictSame: a count that comes back as a string fails.
 */
export const CONSOLE_CONTRACT: Record<string, (t: Test, engine: EngineFactory) => Promise<void>> = {
  async recipients(t, engine) {
    const s = await engine.open(t);
    t.strictSame(await s.recipients.search({ recipient: 'bob@x.test' }, 50), [], 'an empty store finds nothing');

    // Insertion order differs from id order and from time order, on purpose.
    const m1 = mail({ at: T0, recipients: ['Bob@x.test'], sender: 'Alice@Example.com', header: '<same@h.test>', user: 'app', id: 'b-msg' });
    const m2 = mail({ at: T0 + 20, recipients: ['bob@x.test', 'carol@x.test'], sender: 'alice@example.com', header: 'same@h.test', id: 'B-msg' });
    const m3 = mail({ at: T0 + 10, recipients: ['other@x.test', 'bob@y.test'], sender: 'ALICE@example.com', id: 'a_msg' });
    const m4 = mail({ at: T0 + 30, recipients: ['bob@x.test'], sender: 'bob@example.com', header: '<other@h.test>', id: 'a-msg' });
    for (const m of [m1, m2, m3, m4]) await s.queue.accept([m]);
    const rid = await recipientIds(s, [m1, m2, m3, m4]);

    await t.test('by recipient: the address as typed and lower-cased, newest recipient first', async (t) => {
      const hits = await s.recipients.search({ recipient: 'Bob@x.test' }, 50);
      t.strictSame(pairs(hits), [['a-msg', 'bob@x.test'], ['B-msg', 'bob@x.test'], ['b-msg', 'Bob@x.test']]);
      t.strictSame(pairs(await s.recipients.search({ recipient: 'bob@x.test' }, 50)), [['a-msg', 'bob@x.test'], ['B-msg', 'bob@x.test']], 'a lower-case search does not find the capitalised address');
      t.strictSame(pairs(await s.recipients.search({ recipient: 'Bob@x.test' }, 2)), [['a-msg', 'bob@x.test'], ['B-msg', 'bob@x.test']], 'the limit keeps the newest');
      t.strictSame(await s.recipients.search({ recipient: 'nobody@x.test' }, 50), []);
      t.strictSame(await s.recipients.search({ recipient: 'bob\u0000@x.test' }, 50), [], 'a NUL in the text finds nothing');
      // Every field of a hit: the recipient's row and its message's.
      const r = (await s.recipients.get(rid.get('b-msg Bob@x.test')!))!;
      t.strictSame(hits[2], {
        recipientId: r.id, messageId: 'b-msg', address: 'Bob@x.test', domain: 'x.test', status: 'queued', complainedAt: null, attempts: 0,
        nextAttemptAt: r.nextAttemptAt, updatedAt: r.updatedAt, lastCode: null, lastEnhanced: null, lastReply: null, category: null, mxHost: null,
        acceptedAt: T0, sender: 'Alice@Example.com', subject: 'b-msg', messageIdHeader: '<same@h.test>', username: 'app',
      } satisfies RecipientHit);
    });

    await t.test('a delivered recipient with a reply and a complaint is found with them', async (t) => {
      const id = rid.get('a-msg bob@x.test')!;
      await s.recipients.changeStatus(id, { status: 'delivered', at: T0 + 40, nextAttemptAt: null, attempted: true, code: 250, enhanced: '2.0.0', reply: '250 2.0.0 ok', mxHost: 'mx.x.test' });
      await s.recipients.markComplained(id, T0 + 50);
      const [hit] = await s.recipients.search({ recipient: 'bob@x.test' }, 1);
      t.strictSame(
        [hit!.recipientId, hit!.status, hit!.complainedAt, hit!.attempts, hit!.nextAttemptAt, hit!.updatedAt, hit!.lastCode, hit!.lastEnhanced, hit!.lastReply, hit!.mxHost, hit!.username],
        [id, 'delivered', T0 + 50, 1, null, T0 + 40, 250, '2.0.0', '250 2.0.0 ok', 'mx.x.test', null],
      );
    });

    await t.test('by sender: its newest messages (case ignored), each with its recipients in order', async (t) => {
      t.strictSame(pairs(await s.recipients.search({ sender: 'alice@EXAMPLE.com' }, 20)), [
        ['B-msg', 'bob@x.test'], ['B-msg', 'carol@x.test'],
        ['a_msg', 'other@x.test'], ['a_msg', 'bob@y.test'],
        ['b-msg', 'Bob@x.test'],
      ]);
      t.strictSame(pairs(await s.recipients.search({ sender: 'alice@example.com' }, 2)), [['B-msg', 'bob@x.test'], ['B-msg', 'carol@x.test'], ['a_msg', 'other@x.test'], ['a_msg', 'bob@y.test']], 'the limit counts messages, not recipients');
      t.strictSame(await s.recipients.search({ sender: 'carol@example.com' }, 20), []);
      t.strictSame(await s.recipients.search({ sender: 'alice\u0000@example.com' }, 20), []);
    });

    await t.test('by message: queue id or Message-ID header, with or without brackets, in queue id order', async (t) => {
      const both = [['B-msg', 'bob@x.test'], ['B-msg', 'carol@x.test'], ['b-msg', 'Bob@x.test']];
      t.strictSame(pairs(await s.recipients.search({ message: '<same@h.test>' }, 20)), both, 'each spelling of the header, ids in byte order');
      t.strictSame(pairs(await s.recipients.search({ message: 'same@h.test' }, 20)), both);
      t.strictSame(pairs(await s.recipients.search({ message: 'a_msg' }, 20)), [['a_msg', 'other@x.test'], ['a_msg', 'bob@y.test']], 'by queue id');
      t.strictSame(pairs(await s.recipients.search({ message: 'other@h.test' }, 20)), [['a-msg', 'bob@x.test']]);
      t.strictSame(await s.recipients.search({ message: 'A_MSG' }, 20), [], 'ids are exact');
      t.strictSame(await s.recipients.search({ message: 'a\u0000' }, 20), []);
    });

    await t.test('by message: a message matched by id and by header is listed once', async (t) => {
      await s.queue.accept([mail({ at: T0, recipients: ['z@z.test'], id: 'dup@h.test', header: '<dup@h.test>' })]);
      t.strictSame(pairs(await s.recipients.search({ message: 'dup@h.test' }, 20)), [['dup@h.test', 'z@z.test']]);
    });

    await t.test('pending of a destination: only queued and deferred, oldest first, domain lower-cased', async (t) => {
      const s = await engine.open(t);
      const old = mail({ at: T0 + 50, recipients: ['p1@q.test'], id: 'p-old' });
      const mid = mail({ at: T0 + 60, recipients: ['p2@q.test', 'p3@r.test'], id: 'p-mid' });
      const young = mail({ at: T0 + 70, recipients: ['p4@q.test'], id: 'p-young' });
      const early = mail({ at: T0 + 10, recipients: ['done@q.test'], id: 'p-done' });
      for (const m of [young, old, early, mid]) await s.queue.accept([m]);
      const [done] = await s.recipients.forMessage('p-done');
      await s.recipients.changeStatus(done!.id, { status: 'delivered', at: T0 + 80, nextAttemptAt: null, attempted: true, code: 250 });
      const [p2] = await s.recipients.forMessage('p-mid');
      await s.recipients.changeStatus(p2!.id, { status: 'deferred', at: T0 + 90, nextAttemptAt: T0 + 9_000, attempted: true, code: 451, reply: '451 later' });
      t.strictSame(pairs(await s.recipients.search({ pendingDomain: 'Q.test' }, 200)), [['p-old', 'p1@q.test'], ['p-mid', 'p2@q.test'], ['p-young', 'p4@q.test']]);
      t.strictSame(pairs(await s.recipients.search({ pendingDomain: 'q.test' }, 2)), [['p-old', 'p1@q.test'], ['p-mid', 'p2@q.test']]);
      const deferred = (await s.recipients.search({ pendingDomain: 'q.test' }, 200))[1]!;
      t.strictSame([deferred.status, deferred.lastReply, deferred.nextAttemptAt], ['deferred', '451 later', T0 + 9_000]);
      t.strictSame(await s.recipients.search({ pendingDomain: 'none.test' }, 200), []);
      t.strictSame(await s.recipients.search({ pendingDomain: 'q\u0000.test' }, 200), []);
    });
  },

  async suppressions(t, engine) {
    const s = await engine.open(t);
    t.strictSame(await s.suppressions.browse('', undefined, 10), { rows: [], next: null, mode: 'newest' }, 'an empty list');
    const add = async (address: string, scope: string | null = null, at = T0) => (await s.suppressions.upsert(entry(address, scope, at))).row;
    // Insertion order is neither address order nor domain order.
    const rows: SuppressionRow[] = [];
    for (const [address, scope] of [
      ['x@a.test', null], ['bob@d.test', null], ['x@a_b.test', null], ['@d.test', null], ['x@a1.test', null], ['x@a.test', 'app'],
      ['x@b.test', null], ['x@a-b.test', null], ['ann@d.test', 'app'], ['y@a.test', null], ['X@A.test', null], ['ann@d.test', null],
    ] as const)
      rows.push(await add(address, scope));
    const byAddress = (a: string, scope: string | null = null) => rows.find((r) => r.address === a && r.scope === scope)!;

    await t.test('byId', async (t) => {
      const r = byAddress('x@a.test', 'app');
      t.strictSame(await s.suppressions.byId(r.id), r);
      t.equal((await s.suppressions.byId(r.id))!.scope, 'app');
      t.equal((await s.suppressions.byId(byAddress('x@a.test').id))!.scope, null, 'a global entry has scope null');
      t.equal(await s.suppressions.byId(Math.max(...rows.map((x) => x.id)) + 1), undefined, 'no such id');
      t.equal(await s.suppressions.byId(r.id + 0.5), undefined, 'not an id');
    });

    await t.test('the reads of a search text holding NUL (the console passes what was typed)', async (t) => {
      t.strictSame(await s.suppressions.forAddress('ann\u0000@d.test'), []);
      t.equal(await s.suppressions.get('ann\u0000@d.test', null), undefined);
      t.equal(await s.suppressions.get('ann@d.test', 'app\u0000'), undefined);
      t.strictSame(await s.suppressions.lookup('a\u0000n@d.test', 'd.test', null, T0), byAddress('@d.test'), 'the domain entry still applies');
      t.strictSame(await s.suppressions.lookup('ann@d.test', 'd.test', 'app\u0000', T0), byAddress('ann@d.test'), 'the global entry still applies');
      t.equal(await s.suppressions.lookup('ann@e\u0000.test', 'e\u0000.test', null, T0), undefined);
    });

    await t.test('newest first, in pages', async (t) => {
      const seen = await allPages(t, s, '', 5, 'newest');
      t.strictSame(seen.map((r) => r.id), rows.map((r) => r.id).sort((a, b) => b - a));
      t.strictSame(seen.find((r) => r.id === rows[0]!.id), rows[0], 'whole rows');
      t.strictSame((await s.suppressions.browse('', 'not a cursor', 3)).rows.map((r) => r.id), seen.slice(0, 3).map((r) => r.id), 'an unreadable cursor starts at the top');
    });

    await t.test("a domain's entries, newest first, with or without @", async (t) => {
      const d = rows.filter((r) => r.domain === 'd.test').map((r) => r.id).sort((a, b) => b - a);
      t.equal(d.length, 4);
      t.strictSame((await allPages(t, s, '@D.test', 3, 'domain')).map((r) => r.id), d);
      t.strictSame((await allPages(t, s, 'd.test', 2, 'domain')).map((r) => r.id), d);
      t.strictSame(await s.suppressions.browse('none.test', undefined, 10), { rows: [], next: null, mode: 'domain' });
      t.strictSame(await s.suppressions.browse('d\u0000.test', undefined, 10), { rows: [], next: null, mode: 'domain' });
    });

    await t.test('an address prefix: in byte order of (address, scope), across pages', async (t) => {
      const want = [['x@a-b.test', null], ['x@a.test', null], ['x@a.test', 'app'], ['x@a1.test', null], ['x@a_b.test', null]];
      for (const limit of [1, 2, 3, 5, 10]) {
        const seen = await allPages(t, s, 'X@a', limit, 'address');
        t.strictSame(seen.map((r) => [r.address, r.scope]), want, `pages of ${limit}`);
      }
      const first = await s.suppressions.browse('x@a', undefined, 2);
      t.strictSame(first.rows.map((r) => [r.address, r.scope]), want.slice(0, 2));
      t.not(first.next, null);
      const second = await s.suppressions.browse('x@a', first.next!, 2);
      t.strictSame(second.rows.map((r) => [r.address, r.scope]), want.slice(2, 4), 'the second page starts after (address, scope), inside one address');
      t.strictSame((await s.suppressions.browse('ann@d.test', undefined, 10)).rows.map((r) => [r.address, r.scope]), [['ann@d.test', null], ['ann@d.test', 'app']], 'a whole address: every scope, global first');
      t.strictSame(await s.suppressions.browse('zz@', undefined, 10), { rows: [], next: null, mode: 'address' });
      t.strictSame(await s.suppressions.browse('x\u0000@a', undefined, 10), { rows: [], next: null, mode: 'address' });
    });
  },

  async limits(t, engine) {
    const s = await engine.open(t);
    t.strictSame(await s.limits.slowed(), []);
    const state = (bucket: string, slow: Partial<LimitStateRow>): LimitStateRow => ({
      bucket, target: bucket.split('|')[0]!, windows: '{}', connections: 0, slowPerMinute: null, slowRestoreTo: null, slowSince: null, slowUntil: null,
      slowNextStepAt: null, slowLastHalvedAt: null, slowReason: null, updatedAt: T0, ...slow,
    });
    await s.limits.saveStates([
      state('gmail.com', { slowPerMinute: 10, slowRestoreTo: 40, slowSince: T0 + 10, slowUntil: T0 + 600_000, slowReason: '421 4.7.0 try later' }),
      state('plain.test', { slowSince: T0 + 99 }),
      state('nosince.test', { slowPerMinute: 7 }),
      state('yahoo.com|mx', { slowPerMinute: 5, slowSince: T0 + 30 }),
      state('outlook.com', { slowPerMinute: 3, slowSince: T0 + 20 }),
    ]);
    const slowed = await s.limits.slowed();
    t.strictSame(slowed.map((x) => x.bucket), ['yahoo.com|mx', 'outlook.com', 'gmail.com', 'nosince.test'], 'newest first; not slowed left out; no start time last');
    t.strictSame(slowed[2], { bucket: 'gmail.com', target: 'gmail.com', perMinute: 10, restoreTo: 40, since: T0 + 10, until: T0 + 600_000, reason: '421 4.7.0 try later' });
    t.strictSame(slowed[0]!.target, 'yahoo.com');
    t.strictSame(slowed[3], { bucket: 'nosince.test', target: 'nosince.test', perMinute: 7, restoreTo: null, since: null, until: null, reason: null });
  },

  async stats(t, engine) {
    const s = await engine.open(t);
    const h0 = Math.floor(T0 / H);
    t.strictSame(await s.stats.hourly('*', h0 - 100, h0 + 100), []);
    t.strictSame(await s.stats.topDomains(h0 - 100, 10), []);
    t.strictSame(await s.stats.hourlyCategories(h0 - 100, 10), []);
    const ev = (at: number, recipient: string | null, type: string, category: string | null = null) =>
      s.events.append({ at, messageId: 'M', recipientId: null, recipient, type, status: null, category, detail: null });
    // hour h0
    await ev(h0 * H, 'a@one.test', 'delivered');
    await ev(h0 * H + 5, 'b@One.TEST', 'deferred');
    await ev(h0 * H + 6, 'c@two.test', 'bounced', 'user_unknown');
    await ev(h0 * H + 7, 'd@two.test', 'dropped');
    await ev(h0 * H + 8, 'e@three.test', 'expired', 'timeout');
    await ev(h0 * H + 9, 'f@three.test', 'complaint', 'complaint');
    await ev(h0 * H + 10, 'g@x1.test', 'deferred');
    await ev(h0 * H + 11, 'h@x_.test', 'deferred');
    await ev(h0 * H + 12, 'i@x-.test', 'delivered');
    await ev(h0 * H + 13, 'j@X0.test', 'delivered');
    await ev(h0 * H + 14, null, 'delivered');
    await ev(h0 * H + 15, 'k@one.test', 'accepted');
    // hour h0 + 1, up to its last ms
    await ev((h0 + 1) * H, 'l@two.test', 'delivered');
    await ev((h0 + 1) * H + 1, 'm@two.test', 'delivered');
    await ev((h0 + 2) * H - 1, 'n@one.test', 'bounced', 'user_unknown');
    // outside: hour h0 + 2, and hour h0 - 2
    await ev((h0 + 2) * H, 'o@one.test', 'bounced', 'spam');
    await ev((h0 - 2) * H + 1, 'p@four.test', 'delivered');
    await ev((h0 - 2) * H + 2, 'q@four.test', 'dropped', 'other');

    const zero = { delivered: 0, deferred: 0, bounced: 0, dropped: 0, expired: 0, complained: 0 };
    t.strictSame(await s.stats.hourly('*', h0, h0 + 2), [
      { hour: h0, ...zero, delivered: 3, deferred: 3, bounced: 1, dropped: 1, expired: 1, complained: 1 },
      { hour: h0 + 1, ...zero, delivered: 2, bounced: 1 },
    ], "'*': every domain, hours [from, to)");
    t.strictSame(await s.stats.hourly('one.test', h0 - 10, h0 + 10), [
      { hour: h0, ...zero, delivered: 1, deferred: 1 },
      { hour: h0 + 1, ...zero, bounced: 1 },
      { hour: h0 + 2, ...zero, bounced: 1 },
    ], 'one domain, lower-cased by the rollup');
    t.strictSame(await s.stats.hourly('one.test', h0 + 1, h0 + 1), [], 'an empty range');
    t.strictSame(await s.stats.hourly('One.test', h0, h0 + 2), [], 'the domain is matched as given');
    t.strictSame(await s.stats.hourly('four.test', h0 - 2, h0 - 1), [{ hour: h0 - 2, ...zero, delivered: 1, dropped: 1 }]);
    t.strictSame(await s.stats.hourly('one\u0000.test', h0, h0 + 2), []);

    const top = await s.stats.topDomains(h0, 10);
    t.strictSame(top, [
      { domain: 'one.test', ...zero, delivered: 1, deferred: 1, bounced: 2 },
      { domain: 'two.test', ...zero, delivered: 2, bounced: 1, dropped: 1 },
      { domain: 'three.test', ...zero, expired: 1, complained: 1 },
      { domain: 'x-.test', ...zero, delivered: 1 },
      { domain: 'x0.test', ...zero, delivered: 1 },
      { domain: 'x1.test', ...zero, deferred: 1 },
      { domain: 'x_.test', ...zero, deferred: 1 },
    ], "busiest first, equal totals in byte order, never '*', nothing before the first hour");
    t.strictSame(await s.stats.topDomains(h0, 3), top.slice(0, 3));
    t.strictSame((await s.stats.topDomains(h0 + 1, 10)).map((d) => d.domain), ['one.test', 'two.test']);
    t.strictSame(await s.stats.topDomains(h0 + 3, 10), []);

    t.strictSame(await s.stats.hourlyCategories(h0, 10), [
      { category: 'user_unknown', n: 2 },
      { category: 'other', n: 1 },
      { category: 'spam', n: 1 },
      { category: 'timeout', n: 1 },
    ], 'bounced, dropped and expired only (a missing category is "other"); equal counts in byte order');
    t.strictSame(await s.stats.hourlyCategories(h0, 2), [{ category: 'user_unknown', n: 2 }, { category: 'other', n: 1 }]);
    t.strictSame(await s.stats.hourlyCategories(h0 - 2, 1), [{ category: 'other', n: 2 }], 'from an earlier hour');
  },

  async queueAdmin(t, engine) {
    const s = await engine.open(t);
    t.strictSame(await s.queueAdmin.destinations(T0, 200), { rows: [], more: 0 });
    await s.queue.accept([mail({ at: T0, recipients: ['a@busy.test', 'b@busy.test', 'c@busy.test', 'd@busy.test', 'a@done.test'], id: 'q1' })]);
    await s.queue.accept([mail({ at: T0 + 100, recipients: ['e@busy.test', 'a@a_tie.test', 'b@a_tie.test', 'a@a-tie.test', 'b@a-tie.test'], id: 'q2' })]);
    await s.queue.accept([mail({ at: T0 + 50, recipients: ['a@calm.test'], id: 'q3' })]);
    const r = new Map((await s.recipients.forMessage('q1')).concat(await s.recipients.forMessage('q2')).map((x) => [x.address, x.id]));
    await s.recipients.changeStatus(r.get('a@done.test')!, { status: 'delivered', at: T0 + 5, nextAttemptAt: null, attempted: true, code: 250, reply: '250 done' });
    // busy.test: two replies in the same ms; SQLite's index order decides: (updated_at, status, created_at, lease_until, next_attempt_at) descending.
    await s.recipients.changeStatus(r.get('a@busy.test')!, { status: 'deferred', at: T0 + 10, nextAttemptAt: T0 + 3_000, attempted: true, code: 451, reply: '451 older' });
    await s.recipients.changeStatus(r.get('b@busy.test')!, { status: 'deferred', at: T0 + 20, nextAttemptAt: T0 + 9_000, attempted: true, code: 451, reply: '451 later next attempt' });
    await s.recipients.changeStatus(r.get('c@busy.test')!, { status: 'deferred', at: T0 + 20, nextAttemptAt: T0 + 5_000, attempted: true, code: 452, reply: '452 earlier next attempt' });
    // One of busy.test's is in flight until T0 + 1_000 (d@busy.test, the only one due at T0).
    const claimed = await s.recipients.claim(T0, T0 + 1_000, 'node-a', 1);
    t.strictSame(claimed.map((x) => x.address), ['d@busy.test']);

    const at = T0 + 500;
    const { rows, more } = await s.queueAdmin.destinations(at, 200);
    t.strictSame(rows, [
      { domain: 'busy.test', queued: 1, deferred: 3, inFlight: 1, oldestCreatedAt: T0, nextAttemptAt: T0 + 100, lastReply: '451 later next attempt', lastReplyAt: T0 + 20 },
      { domain: 'a-tie.test', queued: 2, deferred: 0, inFlight: 0, oldestCreatedAt: T0 + 100, nextAttemptAt: T0 + 100, lastReply: null, lastReplyAt: null },
      { domain: 'a_tie.test', queued: 2, deferred: 0, inFlight: 0, oldestCreatedAt: T0 + 100, nextAttemptAt: T0 + 100, lastReply: null, lastReplyAt: null },
      { domain: 'calm.test', queued: 1, deferred: 0, inFlight: 0, oldestCreatedAt: T0 + 50, nextAttemptAt: T0 + 50, lastReply: null, lastReplyAt: null },
    ], 'busiest first, equal ones in byte order; delivered left out; the in-flight one is neither queued nor due');
    t.equal(more, 0);
    t.strictSame(await s.queueAdmin.destinations(at, 2), { rows: rows.slice(0, 2), more: 2 }, 'at most `limit`, and how many more');
    t.strictSame(await s.queueAdmin.destinations(at, 0), { rows: [], more: 4 });
    const later = await s.queueAdmin.destinations(T0 + 1_000, 200);
    t.strictSame([later.rows[0]!.queued, later.rows[0]!.inFlight, later.rows[0]!.nextAttemptAt], [2, 0, T0 + 100], 'a lease that ended is queued again (lease_until <= now)');
    const justBefore = await s.queueAdmin.destinations(T0 + 999, 200);
    t.strictSame([justBefore.rows[0]!.queued, justBefore.rows[0]!.inFlight], [1, 1]);
  },
};

function mail(o: { id: string; at: number; recipients: string[]; sender?: string; header?: string; user?: string }): AcceptedMessage {
  const m = message({ id: o.id, at: o.at, recipients: o.recipients, user: o.user ?? null });
  return { ...m, message: { ...m.message, sender: o.sender ?? m.message.sender, messageIdHeader: o.header ?? null } };
}

/** "<message id> <address>" → recipient id. */
async function recipientIds(s: Store, ms: AcceptedMessage[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of ms) for (const r of await s.recipients.forMessage(m.message.id)) out.set(`${m.message.id} ${r.address}`, r.id);
  return out;
}

const pairs = (hits: RecipientHit[]) => hits.map((h) => [h.messageId, h.address]);

function entry(address: string, scope: string | null, at: number): NewSuppression {
  const domain = address.slice(address.indexOf('@') + 1).toLowerCase();
  return { address, domain, category: 'user_unknown', reason: `550 ${address}`, source: 'bounce', scope, createdAt: at, expiresAt: null };
}

/** Every page of a browse, following its cursor; each page holds `limit` rows but the last, which says there is no next. */
async function allPages(t: Test, s: Store, q: string, limit: number, mode: string): Promise<SuppressionRow[]> {
  const out: SuppressionRow[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const p = await s.suppressions.browse(q, cursor, limit);
    t.equal(p.mode, mode, 'mode');
    out.push(...p.rows);
    if (p.next === null) {
      t.ok(p.rows.length <= limit, 'the last page');
      return out;
    }
    t.equal(p.rows.length, limit, 'a full page before a next one');
    cursor = p.next;
  }
  t.fail('more than 100 pages');
  return out;
}
