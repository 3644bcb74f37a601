import type { Test } from 'tap';
// The PostgreSQL engine still has the pre-fate intake semantics (accept writes the dropped
// recipients' events itself, queue.expireMessage/expireOverdue, queueAdmin.purge); the SQLite
// engines moved to outcome/fate (test/store/contract). Moving this engine there is the next step
// of issue 14, and then it joins test/store/contract/engines.ts.
import type { PostgresStore } from '../../src/store/postgres/engine.js';
import { accepted } from './store.js';

/**
 * The store contract both engines must meet, written against the engine-neutral subset of the
 * groups (same method names, arguments and results as the SQLite repositories, asynchronous).
 * It takes an engine factory: test/store/postgres/contract-postgres.test.ts runs it on
 * PostgreSQL, contract-sqlite.test.ts on the SQLite repositories wrapped in Promises. When the
 * store interface of issue 13 lands, its contract suite supersedes this one (or absorbs it).
 */
export type ContractStore = Pick<
  PostgresStore,
  'queue' | 'messages' | 'recipients' | 'events' | 'suppressions' | 'limits' | 'webhooks' | 'users' | 'admins' | 'dkimKeys' | 'attempts' | 'dsnOutbox' | 'queueAdmin' | 'stats' | 'quota'
>;

export type EngineFactory = (t: Test) => Promise<ContractStore>;

export function storeContract(t: Test, open: EngineFactory): void {
  t.test('accept: message, recipients and their first events together', async (t) => {
    const s = await open(t);
    const m = accepted({ id: 'A1', at: 1_000, recipients: ['a@x.test', 'b@y.test'] });
    m.recipients[1] = { ...m.recipients[1]!, status: 'dropped', reason: 'suppressed', category: 'user_unknown' };
    await s.queue.accept([m]);
    const got = await s.messages.getSummary('A1');
    t.same([got?.sender, got?.createdAt, got?.signedAt, got?.eightBit], ['app@example.com', 1_000, null, false]);
    const rs = await s.recipients.forMessage('A1');
    t.same(rs.map((r) => [r.address, r.status, r.nextAttemptAt, r.lastReply, r.category]), [
      ['a@x.test', 'queued', 1_000, null, null],
      ['b@y.test', 'dropped', null, 'suppressed', 'user_unknown'],
    ]);
    const ev = await s.events.forMessage('A1');
    t.same(ev.map((e) => [e.type, e.recipientId, e.detail]), [
      ['queued', rs[0]!.id, null],
      ['dropped', rs[1]!.id, { reason: 'suppressed' }],
    ]);
    t.equal(await s.events.count({ messageId: 'A1' }), 2);
    t.same((await s.messages.list({ limit: 5, status: 'dropped' })).map((x) => x.id), ['A1']);
  });

  t.test('claims, releases, status moves', async (t) => {
    const s = await open(t);
    await s.queue.accept([accepted({ id: 'C1', at: 1_000, recipients: ['a@x.test', 'b@x.test', 'c@x.test'] })]);
    t.same(await s.recipients.claim(500, 60_000, 'n1', 10), [], 'nothing due before its time');
    const got = await s.recipients.claim(2_000, 62_000, 'n1', 2);
    t.same(got.map((r) => [r.address, r.leaseUntil]), [['a@x.test', 62_000], ['b@x.test', 62_000]], 'oldest due first, up to the limit');
    t.equal(await s.recipients.nextDueAt(), 1_000, 'c is still due');
    await s.recipients.release(got[0]!.id, 5_000);
    await s.recipients.releaseMany([{ id: got[1]!.id, at: 6_000, reason: 'rate limited' }]);
    t.same([(await s.recipients.get(got[1]!.id))!.waitReason, (await s.recipients.get(got[1]!.id))!.nextAttemptAt], ['rate limited', 6_000]);
    t.equal(await s.recipients.wakeHeld(3_000), 2, 'never-attempted held recipients are due now');
    const again = await s.recipients.claim(3_000, 63_000, 'n1', 10);
    t.equal(again.length, 3);
    t.equal(await s.recipients.releaseOwned('n2', 4_000), 0, "another node's leases are not ours");
    t.equal(await s.recipients.releaseOwned('n1', 4_000), 3);
    const [a] = await s.recipients.forMessage('C1');
    await s.recipients.changeStatus(a!.id, { status: 'deferred', at: 4_100, nextAttemptAt: 9_000, attempted: true, code: 451, enhanced: '4.7.1', reply: 'later', category: 'temporary' });
    await s.recipients.changeStatus(a!.id, { status: 'delivered', at: 9_100, nextAttemptAt: null, attempted: true, code: 250, reply: 'ok' });
    const done = (await s.recipients.get(a!.id))!;
    t.same([done.status, done.attempts, done.lastCode, done.lastEnhanced, done.category, done.leaseUntil], ['delivered', 2, 250, '4.7.1', null, null]);
    await t.rejects(s.recipients.changeStatus(a!.id, { status: 'deferred', at: 9_200, nextAttemptAt: 10_000, attempted: true }), { code: 'FERRY_ERR_ILLEGAL_TRANSITION' });
    t.equal(await s.recipients.markDelayReported(a!.id, 1), true);
    t.equal(await s.recipients.markDelayReported(a!.id, 2), false, 'at most one delay report');
    await s.recipients.markComplained(a!.id, 50);
    await s.recipients.markComplained(a!.id, 60);
    t.equal((await s.recipients.get(a!.id))!.complainedAt, 50, 'the first complaint is kept');
  });

  t.test('expiry and queue admin', async (t) => {
    const s = await open(t);
    await s.queue.accept([accepted({ id: 'E1', at: 1_000, recipients: ['a@x.test', 'b@y.test'] }), accepted({ id: 'E2', at: 1_000, recipients: ['c@y.test'] })]);
    const gone = await s.queue.expireMessage('E1', 2_000, 'body lost');
    t.same(gone.map((r) => r.address), ['a@x.test', 'b@y.test']);
    t.same((await s.events.forMessage('E1')).map((e) => e.type), ['queued', 'queued', 'expired', 'expired']);
    const [c] = await s.recipients.forMessage('E2');
    await s.recipients.releaseMany([{ id: c!.id, at: 10_000_000, reason: 'rate limited' }]);
    const sum = await s.queueAdmin.summary(3_000);
    t.same(sum.map((d) => [d.domain, d.queued, d.rateLimited, d.rateLimitedUntil]), [['y.test', 1, 1, 10_000_000]]);
    t.same(await s.stats.queueDepth(), { queued: 1, deferred: 0 });
    t.equal(await s.queueAdmin.retry({ domain: 'Y.test' }, 4_000), 1);
    const p = await s.queueAdmin.purge({ all: true }, 5_000, 'purged');
    t.same([p.purged, p.inFlight, p.ended.map((r) => r.address)], [1, 0, ['c@y.test']]);
    t.equal(await s.queueAdmin.messageExists('E2'), true);
    t.equal(await s.queueAdmin.messageExists('nope'), false);
    await s.queue.accept([accepted({ id: 'E3', at: 1_000, recipients: ['d@y.test'] })]);
    const [d] = await s.recipients.forMessage('E3');
    await s.recipients.releaseMany([{ id: d!.id, at: 10_000_000 }]);
    t.same((await s.queue.expireOverdue(200_000, 100_000, 10, 'too old')).map((r) => r.address), ['d@y.test']);
  });

  t.test('suppressions', async (t) => {
    const s = await open(t);
    const e = { domain: 'x.test', category: 'user_unknown', reason: '550 5.1.1 unknown', source: 'bounce' as const, createdAt: 100, expiresAt: 1_000 };
    t.equal((await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: null })).created, true);
    t.equal((await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: 'app', reason: 'user' })).created, true);
    t.equal((await s.suppressions.lookup('a@x.test', 'x.test', 'app', 500))!.scope, null, 'global before scope');
    t.equal(await s.suppressions.lookup('a@x.test', 'x.test', 'app', 1_000), undefined, 'expired entries do not count');
    const renewed = await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: null, createdAt: 2_000, expiresAt: null });
    t.same([renewed.created, renewed.row.createdAt, renewed.row.hits], [false, 2_000, 0], 'an expired entry starts afresh');
    await s.suppressions.upsert({ ...e, address: '@y.test', domain: 'y.test', scope: null, expiresAt: null, source: 'manual' });
    t.equal((await s.suppressions.lookup('b@y.test', 'y.test', null, 3_000))!.address, '@y.test', 'domain entry');
    await s.suppressions.hit(renewed.row.id, 3_000);
    await s.suppressions.hitMany([[renewed.row.id, 2, 2_500]]);
    t.same([(await s.suppressions.get('a@x.test', null))!.hits, (await s.suppressions.get('a@x.test', null))!.lastHitAt], [3, 3_000]);
    t.same((await s.suppressions.forAddress('a@x.test')).map((r) => r.scope), [null, 'app']);
    t.equal(await s.suppressions.count({}), 3);
    t.equal(await s.suppressions.count({ search: 'UNKNOWN' }), 2, 'search ignores case');
    t.equal(await s.suppressions.count({ search: '5.1_' }), 0, 'LIKE wildcards in a search are literal');
    t.same((await s.suppressions.list({ source: 'manual' }, 10)).map((r) => r.address), ['@y.test']);
    t.equal(await s.suppressions.remove('a@x.test', 'app'), true);
    t.equal(await s.suppressions.remove('a@x.test', 'app'), false);
    t.equal(await s.suppressions.clear({ domain: 'x.test' }), 1);
    const m = accepted({ id: 'D1', recipients: ['Bob@y.test'] });
    m.recipients[0] = { ...m.recipients[0]!, status: 'dropped', reason: 'suppressed', category: 'manual' };
    await s.queue.accept([m]);
    t.same((await s.suppressions.drops('bob@y.test', 5)).map((d) => [d.messageId, d.reason]), [['D1', 'suppressed']], 'case-insensitive');
    t.equal((await s.suppressions.drops('@y.test', 5)).length, 1);
  });

  t.test('users, admins, DKIM keys, limits, quotas, webhooks, attempts, DSN outbox', async (t) => {
    const s = await open(t);
    t.equal(await s.users.add('app', 'h', ['a.test'], 1), true);
    t.equal(await s.users.add('app', 'h', [], 2), false);
    t.equal(await s.users.setOneClickUnsubscribe('app', true, 3), true);
    t.same(await s.users.get('app'), { name: 'app', passwordHash: 'h', fromDomains: ['a.test'], createdAt: 1, updatedAt: 3, oneClickUnsubscribe: true });
    await s.quota.set('app', { maxMessagesPerHour: 5, maxRecipientsPerDay: 10 }, 4);
    t.equal((await s.quota.list()).length, 1);
    t.equal(await s.users.remove('app'), true);
    t.equal(await s.quota.get('app'), undefined, "a user's quota goes with the user");
    t.equal(await s.admins.add('root', 'h', 'support', 1), true);
    t.equal((await s.admins.get('root'))!.role, 'support');
    await s.dkimKeys.add({ domain: 'A.test', selector: 's', algorithm: 'ed25519', keyFile: '/k.pem', publicKey: 'p', createdAt: 1 });
    await t.rejects(s.dkimKeys.add({ domain: 'a.test', selector: 's', algorithm: 'rsa', keyFile: '/k2.pem', publicKey: 'p', createdAt: 2 }), { code: 'FERRY_ERR_EXISTS' });
    t.same((await s.dkimKeys.byDomain('a.TEST')).map((k) => k.keyFile), ['/k.pem']);
    await s.limits.set('default', { perMinute: null, perHour: 100, perDay: null, connections: null, perConnection: 50 }, 1);
    t.same((await s.limits.list()).map((l) => [l.target, l.perHour, l.perConnection]), [['default', 100, 50]]);
    const cur = await s.webhooks.ensure('https://h.test/', 7, 1);
    t.same([cur.lastEventId, cur.failures, cur.leaseOwner], [7, 0, null]);
    t.equal((await s.webhooks.ensure('https://h.test/', 99, 2)).lastEventId, 7, 'ensure keeps an existing cursor');
    t.equal(await s.webhooks.lease('https://h.test/', 'n1', 10, 100), true);
    t.equal(await s.webhooks.lease('https://h.test/', 'n2', 20, 120), false);
    await s.webhooks.release('https://h.test/', 'n1');
    t.equal(await s.webhooks.lease('https://h.test/', 'n2', 20, 120), true);
    await s.queue.accept([accepted({ id: 'W1', recipients: ['a@x.test'] })]);
    const [r] = await s.recipients.forMessage('W1');
    const attempt = { recipientId: r!.id, messageId: 'W1', durationMs: 1, phase: 'rcpt', mxHost: null, ip: null, port: null, tlsProtocol: null, tlsCipher: null, code: 421, enhanced: null, reply: 'slow down', errorKind: null, error: null, rule: null, hops: null };
    await s.attempts.insert({ ...attempt, at: 10, result: 'deferred', category: 'rate_limited' });
    await s.attempts.insert({ ...attempt, at: 20, result: 'deferred', category: 'temporary' });
    await s.attempts.insert({ ...attempt, at: 30, result: 'deferred', category: 'rate_limited' });
    await s.attempts.insert({ ...attempt, at: 40, result: 'deferred', category: 'rate_limited' });
    t.equal(await s.attempts.streakSince(r!.id, 'rate_limited'), 30, 'the current streak only');
    t.equal((await s.attempts.forMessage('W1')).length, 4);
    const id1 = await s.dsnOutbox.add('W1', [{ a: 1 }], 5);
    const id2 = await s.dsnOutbox.add('W1', [{ a: 2 }], 6);
    t.same((await s.dsnOutbox.list(id1, 10)).map((x) => [x.id, x.recipients]), [[id2, [{ a: 2 }]]]);
    await s.dsnOutbox.remove(id1);
    t.equal(await s.dsnOutbox.count(), 1);
  });
}
