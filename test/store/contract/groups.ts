import type { Test } from 'tap';
import type { EngineFactory } from './engines.js';
import { message } from './fixtures.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { FatePlan, FateResult } from '../../../src/core/fate.js';
import type { Store } from '../../../src/core/store.js';
import type { AcceptedMessage } from '../../../src/core/store-types.js';
import { bornDropped } from '../../../src/core/dropped.js';
import { RETRY } from '../../helpers/fate.js';
import { createFate } from '../../../src/outcome/fate.js';
import { createClassifier } from '../../../src/classify/classifier.js';
import { seededRandom } from '../../../src/core/random.js';
import { silentLogger } from '../../../src/core/logger.js';
import { readStoredBody } from '../../../src/store/sqlite/stored-bodies.js';

const T0 = 1_760_000_000_000;

/**
 * The store contract, one function per group, each taking an engine factory. Written against the
 * Store interface only: every engine must pass every function (contract.test.ts runs them all).
 */
export const CONTRACT: Record<string, (t: Test, engine: EngineFactory) => Promise<void>> = {
  async queue(t, engine) {
    const s = await engine.open(t);
    const m = message({ recipients: ['a@example.net', 'b@example.org'], dropped: ['gone@example.net'] });
    // The dropped recipient's fate is planned before the commit (outcome/fate, origin intake-drop)
    // and written by the engine in the intake transaction, with the id the insert gave it.
    m.dropFates = dropPlans(m);
    const written = await s.queue.accept([m]);
    t.same(written.map((r) => [r.plan.address, r.applied, r.dsnRecorded]), [['gone@example.net', true, true]], 'the drop fate is written and returned');
    const got = await s.messages.get(m.message.id);
    t.ok(got && Buffer.isBuffer(got.headers) && Buffer.isBuffer(got.body), 'bytes come back as Buffers');
    t.equal(got!.body!.toString(), 'body\r\n');
    const rs = await s.recipients.forMessage(m.message.id);
    t.same(rs.map((r) => [r.address, r.status]), [['a@example.net', 'queued'], ['b@example.org', 'queued'], ['gone@example.net', 'dropped']]);
    t.same((await s.events.forMessage(m.message.id)).map((e) => e.type), ['queued', 'queued', 'dropped'], 'an event per recipient, same transaction');
    const outbox = await s.dsnOutbox.list(0, 10);
    t.equal(outbox.length, 1, 'the intake DSN is in the outbox');
    t.match(outbox[0]!.recipients, [{ address: 'gone@example.net', kind: 'dropped' }]);
    await t.rejects(s.queue.accept([message({ id: m.message.id })]), 'a duplicate id is refused');
    const bad = message({ dropped: ['x@example.net'] });
    await t.rejects(s.queue.accept([{ ...bad, dropFates: [...dropPlans(bad), ...dropPlans(bad)] }]), 'plans that do not match the dropped recipients are refused');
    t.equal(await s.messages.get(bad.message.id), undefined, 'and nothing of that message is written');
    const [a] = rs;
    const ended = await s.fates.record([{ ...dropPlans(m)[0]!, origin: 'expiry', recipientId: a!.id, address: a!.address, from: ['queued', 'deferred'], status: { ...BLANK_STATUS, status: 'expired' }, event: { type: 'expired', status: 'expired', category: 'other', detail: { reason: 'too old' } }, dsn: null }]);
    t.equal(ended[0]!.applied, true, 'fates.record writes a plan');
    t.equal((await s.recipients.get(a!.id))!.status, 'expired');
  },

  async recipients(t, engine) {
    const s = await engine.open(t);
    const m = message({ recipients: ['a@example.net', 'b@example.net'], at: T0 });
    await s.queue.accept([m]);
    t.equal(await s.recipients.nextDueAt(), T0);
    const first = await s.recipients.claim(T0, T0 + 60_000, 'node-a', 1);
    t.equal(first.length, 1, 'limit honoured');
    t.equal(first[0]!.leaseUntil, T0 + 60_000);
    const second = await s.recipients.claim(T0, T0 + 60_000, 'node-b', 10);
    t.equal(second.length, 1, 'a leased row is not claimed twice');
    t.not(second[0]!.id, first[0]!.id);
    await s.recipients.releaseMany([{ id: first[0]!.id, at: T0 + 5, reason: 'rate limited' }]);
    t.equal((await s.recipients.get(first[0]!.id))!.waitReason, 'rate limited');
    t.equal(await s.recipients.wakeHeld(T0 + 1), 1, 'held rows woken');
    t.equal(await s.recipients.releaseOwned('node-b', T0 + 2), 1);
    await s.recipients.changeStatus(first[0]!.id, { status: 'delivered', at: T0 + 3, nextAttemptAt: null, attempted: true, code: 250, reply: '250 ok' });
    const d = await s.recipients.get(first[0]!.id);
    t.equal(d!.status, 'delivered');
    t.equal(d!.attempts, 1);
    await t.rejects(
      s.recipients.changeStatus(first[0]!.id, { status: 'deferred', at: T0 + 4, nextAttemptAt: T0 + 10, attempted: true }),
      { code: 'FERRY_ERR_ILLEGAL_TRANSITION' },
      'delivered never becomes deferred',
    );
    t.equal(await s.recipients.markDelayReported(second[0]!.id, T0), true);
    t.equal(await s.recipients.markDelayReported(second[0]!.id, T0), false, 'at most once');
    await s.recipients.markComplained(first[0]!.id, T0 + 9);
    t.equal((await s.recipients.get(first[0]!.id))!.complainedAt, T0 + 9);
    const id = await s.recipients.insert({ messageId: m.message.id, address: 'c@example.net', domain: 'example.net', status: 'queued', at: T0, reason: null, category: null });
    t.equal((await s.recipients.get(id))!.address, 'c@example.net');

    await t.test('claims, releases, status moves', async (t) => {
      const s = await engine.open(t);
      const c1 = message({ at: 1_000, recipients: ['a@x.test', 'b@x.test', 'c@x.test'] });
      await s.queue.accept([c1]);
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
      const [a] = await s.recipients.forMessage(c1.message.id);
      await s.recipients.changeStatus(a!.id, { status: 'deferred', at: 4_100, nextAttemptAt: 9_000, attempted: true, code: 451, enhanced: '4.7.1', reply: 'later', category: 'temporary' });
      await s.recipients.changeStatus(a!.id, { status: 'delivered', at: 9_100, nextAttemptAt: null, attempted: true, code: 250, reply: 'ok' });
      const done = (await s.recipients.get(a!.id))!;
      t.same([done.status, done.attempts, done.lastCode, done.lastEnhanced, done.category, done.leaseUntil], ['delivered', 2, 250, '4.7.1', null, null]);
      await s.recipients.markComplained(a!.id, 50);
      await s.recipients.markComplained(a!.id, 60);
      t.equal((await s.recipients.get(a!.id))!.complainedAt, 50, 'the first complaint is kept');
      // An expired lease (a dead node's work) is claimable by another node; the overdue scan skips held rows.
      const [b] = await s.recipients.claim(10_000, 20_000, 'dead-node', 1);
      t.ok(b, 'a dead node held one');
      t.notOk((await s.recipients.claim(15_000, 16_000, 'n2', 10)).some((r) => r.id === b!.id), 'not while its lease runs');
      const taken = await s.recipients.claim(20_000, 80_000, 'n3', 10);
      t.ok(taken.some((r) => r.id === b!.id), 'after the lease ran out, another node claims it');
    });
  },

  async messages(t, engine) {
    const s = await engine.open(t);
    const m = message({ at: T0 });
    await s.queue.accept([m]);
    t.equal(await s.messages.signedAt(m.message.id), null);
    t.equal(await s.messages.markSigned(m.message.id, Buffer.from('DKIM-Signature: x\r\nSubject: s\r\n\r\n'), T0 + 1), true);
    t.equal(await s.messages.markSigned(m.message.id, Buffer.from('again\r\n\r\n'), T0 + 2), false, 'signed once');
    t.equal(await s.messages.signedAt(m.message.id), T0 + 1);
    t.match((await s.messages.get(m.message.id))!.headers.toString(), /^DKIM-Signature/);
    t.equal((await s.messages.getSummary(m.message.id))!.id, m.message.id);
    t.same((await s.messages.list({ limit: 10 })).map((x) => x.id), [m.message.id]);
    t.equal(await s.messages.count({ recipient: 'a@example.net' }, 100), 1);
    t.same(await s.messages.spoolFiles(), []);
    t.equal(await s.messages.markBodyLost(m.message.id, T0), true);
    t.equal(await s.messages.markBodyLost(m.message.id, T0), false);
    await s.messages.forgetSpoolFile(m.message.id, T0);
    const small = await s.messages.head(m.message.id);
    t.equal(small?.bodyRef, null, 'a small (here: lost) body is never left behind a reference');
    await t.test('a large inline body, signed, read whole or by reference', (t) => largeBody(t, s));
  },

  async suppressions(t, engine) {
    const s = await engine.open(t);
    const entry = { address: 'bad@example.net', domain: 'example.net', category: 'user_unknown', reason: '550 no such user', source: 'bounce' as const, scope: null, createdAt: T0, expiresAt: null };
    const first = await s.suppressions.upsert(entry);
    t.equal(first.created, true);
    t.equal((await s.suppressions.upsert({ ...entry, reason: 'again' })).created, false);
    const hit = await s.suppressions.lookup('bad@example.net', 'example.net', null, T0);
    t.equal(hit?.reason, 'again');
    t.equal(await s.suppressions.lookup('ok@example.net', 'example.net', null, T0), undefined);
    await s.suppressions.upsert({ ...entry, address: '@blocked.test', domain: 'blocked.test', source: 'manual', expiresAt: T0 + 10 });
    t.equal((await s.suppressions.lookup('x@blocked.test', 'blocked.test', 'u', T0))?.address, '@blocked.test', 'domain entry');
    t.equal(await s.suppressions.lookup('x@blocked.test', 'blocked.test', 'u', T0 + 11), undefined, 'expired entry ignored');
    await s.suppressions.hitMany([[first.row.id, 3, T0 + 5]]);
    t.equal((await s.suppressions.get('bad@example.net', null))!.hits, 3);
    t.equal(await s.suppressions.count(), 2);
    t.equal((await s.suppressions.list({ domain: 'example.net' }, 10)).length, 1);
    // paging replaces iterate(): every entry once, in id order
    const handle = await s.suppressions.importBegin();
    await s.suppressions.importStage(handle, Array.from({ length: 25 }, (_, i) => ({ ...entry, address: `i${i}@import.test`, domain: 'import.test', source: 'import' as const })));
    t.equal(await s.suppressions.count(), 2, 'staged rows are not on the list yet');
    t.equal(await s.suppressions.importCommit(handle), 25);
    t.equal(await s.suppressions.count(), 27);
    const aborted = await s.suppressions.importBegin();
    await s.suppressions.importStage(aborted, [{ ...entry, address: 'never@import.test' }]);
    await s.suppressions.importAbort(aborted);
    t.equal(await s.suppressions.get('never@import.test', null), undefined, 'an aborted import changes nothing');
    const seen: number[] = [];
    for (let after = 0; ; ) {
      const page = await s.suppressions.page(after, 10);
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.id));
      after = page.at(-1)!.id;
    }
    t.equal(seen.length, 27);
    t.same(seen, [...seen].sort((a, b) => a - b));
    t.equal(await s.suppressions.clear({ domain: 'import.test' }), 25);
    t.equal(await s.suppressions.remove('bad@example.net', null), true);
    t.same(await s.suppressions.forAddress('bad@example.net'), []);
    t.same(await s.suppressions.drops('bad@example.net', 10), []);

    await t.test('expiry, scope, search and drops', async (t) => {
      const s = await engine.open(t);
      const e = { domain: 'x.test', category: 'user_unknown', reason: '550 5.1.1 unknown', source: 'bounce' as const, createdAt: 100, expiresAt: 1_000 };
      t.equal((await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: null })).created, true);
      t.equal((await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: 'app', reason: 'user' })).created, true);
      t.equal((await s.suppressions.lookup('a@x.test', 'x.test', 'app', 500))!.scope, null, 'global before scope');
      t.equal(await s.suppressions.lookup('a@x.test', 'x.test', 'app', 1_000), undefined, 'expired entries do not count');
      const renewed = await s.suppressions.upsert({ ...e, address: 'a@x.test', scope: null, createdAt: 2_000, expiresAt: null });
      t.same([renewed.created, renewed.row.createdAt, renewed.row.hits], [false, 2_000, 0], 'an expired entry starts afresh');
      await s.suppressions.hit(renewed.row.id, 3_000);
      await s.suppressions.hitMany([[renewed.row.id, 2, 2_500]]);
      const got = (await s.suppressions.get('a@x.test', null))!;
      t.same([got.hits, got.lastHitAt], [3, 3_000]);
      t.same((await s.suppressions.forAddress('a@x.test')).map((r) => r.scope), [null, 'app'], 'global first');
      t.equal(await s.suppressions.count({ search: 'UNKNOWN' }), 1, 'search ignores case');
      t.equal(await s.suppressions.count({ search: '5.1_' }), 0, 'LIKE wildcards in a search are literal');
      t.equal(await s.suppressions.count({ scope: 'app' }), 1);
      t.equal(await s.suppressions.remove('a@x.test', 'app'), true);
      t.equal(await s.suppressions.remove('a@x.test', 'app'), false);
      const m = message({ recipients: [], dropped: ['Bob@y.test'] });
      m.dropFates = dropPlans(m);
      await s.queue.accept([m]);
      t.same((await s.suppressions.drops('bob@y.test', 5)).map((d) => [d.messageId, d.reason, d.sender]), [[m.message.id, 'suppressed', 'app@example.com']], 'case-insensitive');
      t.equal((await s.suppressions.drops('@y.test', 5)).length, 1, 'by domain');
    });
  },

  async users(t, engine) {
    const s = await engine.open(t);
    t.equal(await s.users.add('app', 'hash', ['example.com'], T0), true);
    t.equal(await s.users.add('app', 'hash', [], T0), false, 'name taken');
    t.equal(await s.users.setFromDomains('app', ['a.test'], T0 + 1), true);
    t.equal(await s.users.setOneClickUnsubscribe('app', true, T0 + 2), true);
    t.equal(await s.users.setPassword('app', 'h2', T0 + 3), true);
    const u = await s.users.get('app');
    t.same([u!.fromDomains, u!.oneClickUnsubscribe, u!.passwordHash], [['a.test'], true, 'h2']);
    t.equal((await s.users.list()).length, 1);
    t.equal(await s.users.remove('app'), true);
    t.equal(await s.users.get('app'), undefined);
    t.equal(await s.users.remove('app'), false);
  },

  async admins(t, engine) {
    const s = await engine.open(t);
    t.equal(await s.admins.add('root', 'h', 'admin', T0), true);
    t.equal(await s.admins.add('root', 'h', 'support', T0), false);
    t.equal(await s.admins.setPassword('root', 'h2', T0 + 1), true);
    t.same((await s.admins.list()).map((a) => [a.name, a.role, a.passwordHash]), [['root', 'admin', 'h2']]);
    t.equal(await s.admins.remove('root'), true);
  },

  async dkimKeys(t, engine) {
    const s = await engine.open(t);
    const row = { domain: 'Example.COM', selector: 's1', algorithm: 'rsa' as const, keyFile: '/k', publicKey: 'MII', createdAt: T0 };
    await s.dkimKeys.add(row);
    await t.rejects(s.dkimKeys.add(row), { code: 'FERRY_ERR_EXISTS' });
    t.same((await s.dkimKeys.byDomain('example.com')).map((k) => k.selector), ['s1']);
    t.equal((await s.dkimKeys.list()).length, 1);
    t.equal(await s.dkimKeys.remove('example.com', 's1'), true);
  },

  async events(t, engine) {
    const s = await engine.open(t);
    t.equal(await s.events.lastId(), 0);
    const a = await s.events.append({ at: T0, messageId: 'M1', recipientId: null, recipient: null, type: 'limit_changed', status: null, category: null, detail: { by: 'x' } });
    const b = await s.events.append({ at: T0 + 1, messageId: 'M1', recipientId: null, recipient: 'r@x.test', type: 'dropped', status: 'dropped', category: null, detail: null });
    t.ok(b > a);
    t.equal(await s.events.lastId(), b);
    t.same((await s.events.forMessage('M1')).map((e) => e.detail), [{ by: 'x' }, null]);
    t.same((await s.events.list({ order: 'desc', limit: 1 })).map((e) => e.id), [b]);
    t.equal(await s.events.count({ type: 'dropped' }), 1);
  },

  async attempts(t, engine) {
    const s = await engine.open(t);
    const m = message();
    await s.queue.accept([m]);
    const [r] = await s.recipients.forMessage(m.message.id);
    const base = { recipientId: r!.id, messageId: m.message.id, durationMs: 5, phase: 'rcpt', mxHost: 'mx', ip: '127.0.0.1', port: 25, tlsProtocol: null, tlsCipher: null, code: 451, enhanced: '4.7.1', reply: 'later', errorKind: null, error: null, rule: null, hops: [{ host: 'mx' }] };
    await s.attempts.insert({ ...base, at: T0, result: 'deferred', category: 'temporary' });
    await s.attempts.insert({ ...base, at: T0 + 10, result: 'deferred', category: 'rate_limited' });
    await s.attempts.insert({ ...base, at: T0 + 20, result: 'deferred', category: 'rate_limited' });
    t.equal(await s.attempts.streakSince(r!.id, 'rate_limited'), T0 + 10);
    t.equal(await s.attempts.streakSince(r!.id, 'temporary'), null);
    t.same((await s.attempts.forMessage(m.message.id))[0]!.hops, [{ host: 'mx' }]);
    // `ferry tls check`: the latest attempts to the recipient domain, newest first, with their TLS outcome
    await s.attempts.insert({ ...base, at: T0 + 30, result: 'delivered', category: null, tlsProtocol: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384', tlsVerified: true, tlsPolicy: 'sts-enforce', tlsResult: 'success' });
    const recent = await s.attempts.recentTls('EXAMPLE.net', 2);
    t.same(recent, [
      { at: T0 + 30, result: 'delivered', mxHost: 'mx', ip: '127.0.0.1', tlsProtocol: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384', tlsVerified: true, tlsPolicy: 'sts-enforce', tlsResult: 'success' },
      { at: T0 + 20, result: 'deferred', mxHost: 'mx', ip: '127.0.0.1', tlsProtocol: null, tlsCipher: null, tlsVerified: null, tlsPolicy: null, tlsResult: null },
    ]);
    t.same(await s.attempts.recentTls('example.org', 5), [], 'another domain has none');
  },

  async dsnOutbox(t, engine) {
    const s = await engine.open(t);
    const id = await s.dsnOutbox.add('M1', [{ address: 'a@x.test', kind: 'bounced' }], T0);
    t.equal(await s.dsnOutbox.count(), 1);
    t.same((await s.dsnOutbox.list(0, 10)).map((r) => [r.id, r.messageId]), [[id, 'M1']]);
    await s.dsnOutbox.remove(id);
    t.equal(await s.dsnOutbox.count(), 0);
  },

  async limits(t, engine) {
    const s = await engine.open(t);
    await s.limits.set('gmail.com', { perMinute: 10, perHour: null, perDay: null, connections: 2, perConnection: null }, T0);
    t.equal((await s.limits.get('gmail.com'))!.perMinute, 10);
    t.equal((await s.limits.list()).length, 1);
    const state = { bucket: 'gmail.com', target: 'gmail.com', windows: '{}', connections: 0, slowPerMinute: null, slowRestoreTo: null, slowSince: null, slowUntil: null, slowNextStepAt: null, slowLastHalvedAt: null, slowReason: null, updatedAt: T0 };
    await s.limits.saveStates([state]);
    t.same((await s.limits.states()).map((x) => x.bucket), ['gmail.com']);
    await s.limits.saveStates([], ['gmail.com']);
    t.same(await s.limits.states(), []);
    t.equal(typeof (await s.limits.dataVersion()), 'number');
    t.equal(await s.limits.remove('gmail.com'), true);
  },

  async quota(t, engine) {
    const s = await engine.open(t);
    await s.users.add('app', 'h', [], T0);
    await s.quota.set('app', { maxMessagesPerHour: 5, maxRecipientsPerDay: null }, T0);
    t.equal((await s.quota.get('app'))!.maxMessagesPerHour, 5);
    await s.quota.saveStates([{ username: 'app', windows: '{"hour":[]}', updatedAt: T0 }]);
    t.equal((await s.quota.state('app'))!.windows, '{"hour":[]}');
    t.equal((await s.quota.states()).length, 1);
    await s.quota.set('app', { maxMessagesPerHour: null, maxRecipientsPerDay: null }, T0);
    t.same(await s.quota.list(), [], 'a row with neither quota is removed');
  },

  async webhooks(t, engine) {
    const s = await engine.open(t);
    const c = await s.webhooks.ensure('https://h.test/', 7, T0);
    t.equal(c.lastEventId, 7);
    t.equal((await s.webhooks.ensure('https://h.test/', 99, T0)).lastEventId, 7, 'ensure keeps an existing cursor');
    await s.webhooks.advance('https://h.test/', 12, T0 + 1);
    await s.webhooks.advance('https://h.test/', 9, T0 + 2);
    t.equal((await s.webhooks.get('https://h.test/'))!.lastEventId, 12, 'never moves back');
    await s.webhooks.fail('https://h.test/', 'timeout', T0 + 3);
    t.equal((await s.webhooks.list())[0]!.failures, 1);
    t.equal(await s.webhooks.lease('https://h.test/', 'a', T0, T0 + 100), true);
    t.equal(await s.webhooks.lease('https://h.test/', 'b', T0 + 1, T0 + 100), false, 'held by another node');
    await s.webhooks.release('https://h.test/', 'a');
    t.equal(await s.webhooks.lease('https://h.test/', 'b', T0 + 1, T0 + 100), true);
  },

  async queueAdmin(t, engine) {
    const s = await engine.open(t);
    const m = message({ recipients: ['a@one.test', 'b@one.test', 'c@two.test'], at: T0 });
    await s.queue.accept([m]);
    const summary = await s.queueAdmin.summary(T0);
    t.same(summary.map((d) => [d.domain, d.queued]), [['one.test', 2], ['two.test', 1]]);
    t.equal(await s.queueAdmin.retry({ domain: 'two.test' }, T0 + 1), 1);
    // What a purge ends (each through outcome/fate, origin admin-purge): the selected pending recipients.
    const pending = await s.queueAdmin.pending({ domain: 'one.test' });
    t.same(pending.map((r) => r.domain), ['one.test', 'one.test']);
    t.equal(await s.queueAdmin.messageExists(m.message.id), true);
    t.equal(await s.queueAdmin.messageExists('nope'), false);
  },

  async stats(t, engine) {
    const s = await engine.open(t);
    await s.queue.accept([message({ recipients: ['a@one.test'], at: T0 })]);
    t.same(await s.stats.queueDepth(), { queued: 1, deferred: 0 });
    t.equal((await s.stats.oldestQueued())!.recipient, 'a@one.test');
    t.same((await s.stats.recipientsSince(T0)).byStatus, { queued: 1 });
    t.same(await s.stats.topCategories(T0, 5), []);
    t.same(await s.stats.failingDestinations(T0, 5), []);
    t.same(await s.stats.attemptsSince(T0), {});
    t.equal(await s.stats.lastDelivery(), null);
    t.equal(await s.stats.spoolBodies(), 0);
    t.same(await s.stats.suppressions(T0), { total: 0, added: 0 });
  },

  async retention(t, engine) {
    const s = await engine.open(t);
    const done = message({ at: T0 });
    const waiting = message({ at: T0 });
    await s.queue.accept([done, waiting]);
    const [r] = await s.recipients.forMessage(done.message.id);
    await s.recipients.changeStatus(r!.id, { status: 'delivered', at: T0 + 1, nextAttemptAt: null, attempted: true });
    const bodies = await s.retention.bodies({ createdAt: -Infinity, id: '' }, 10);
    t.equal(bodies.length, 2);
    const dry = await s.retention.clearBodies([done.message.id, waiting.message.id], T0 + 2, T0 + 2, true);
    t.same(dry.map((b) => b.id), [done.message.id], 'a dry run names only the finished message');
    t.ok(await s.retention.bodyOf(done.message.id), 'and removes nothing');
    const cleared = await s.retention.clearBodies([done.message.id, waiting.message.id], T0 + 2, T0 + 2, false);
    t.same(cleared.map((b) => b.id), [done.message.id]);
    t.equal(await s.retention.bodyOf(done.message.id), undefined);
    const old = await s.retention.oldMessages(T0 + 100, { createdAt: -Infinity, id: '' }, 10);
    t.equal(old.length, 2);
    t.equal(await s.retention.keepReason(waiting.message.id, T0 + 100, Infinity), 'pending');
    t.equal(await s.retention.webhookSentUpTo([]), Infinity);
    const pruned = await s.retention.pruneRecords([done.message.id, waiting.message.id], T0 + 100, Infinity, false);
    t.same(pruned.pruned.map((p) => [p.id, p.recipients]), [[done.message.id, 1]]);
    t.equal(await s.messages.get(done.message.id), undefined, 'the finished record is gone');
    t.ok(await s.messages.get(waiting.message.id), 'the pending one stays');
    t.same(await s.retention.countRecord(waiting.message.id), { recipients: 1, attempts: 0, events: 1 });
    t.same(await s.retention.deleteRecord(waiting.message.id), { recipients: 1, attempts: 0, events: 1 });
  },

  async fates(t, engine) {
    const s = await engine.open(t);
    const fate = planner();
    const at = T0 + 60_000;
    const m = message({ recipients: ['ok@one.test', 'gone@one.test', 'late@two.test', 'spam@two.test', 'lost@three.test', 'purged@three.test', 'old@four.test', 'held@four.test'], at: T0 });
    m.recipients[2] = { ...m.recipients[2]!, dsnNotify: ['FAILURE', 'DELAY'] };
    await s.queue.accept([m]);
    const byAddr = new Map((await s.recipients.forMessage(m.message.id)).map((r) => [r.address, r]));
    const r = (a: string) => byAddr.get(a)!;
    const ctx = { startedAt: at, durationMs: 12, hop: { host: 'mx.one.test', ip: '127.0.0.2', port: 25, tls: null }, hops: [{ host: 'mx.one.test' }] };
    const reply = (code: number, enhanced: string, text: string) => ({ code, enhanced, text });

    // One call, one transaction: a delivery, a hard bounce, a deferral, then the origins that do not come from an attempt.
    const plans = fate.plan([
      { origin: 'attempt', recipient: r('ok@one.test'), facts: { fact: { kind: 'delivered', reply: reply(250, '2.0.0', '250 2.0.0 ok') }, firstQueuedAt: T0, ctx } },
      { origin: 'attempt', recipient: r('gone@one.test'), facts: { fact: { kind: 'failed', phase: 'rcpt', reply: reply(550, '5.1.1', '550 5.1.1 no such user') }, firstQueuedAt: T0, ctx } },
      { origin: 'attempt', recipient: r('late@two.test'), facts: { fact: { kind: 'failed', phase: 'rcpt', reply: reply(451, '4.3.0', '451 4.3.0 try later') }, firstQueuedAt: T0, ctx } },
      { origin: 'lost-body', recipient: r('lost@three.test'), facts: { reason: 'the stored body is missing' } },
      { origin: 'admin-purge', recipient: r('purged@three.test'), facts: { reason: 'purged by admin' } },
      { origin: 'expiry', recipient: r('old@four.test'), facts: { reason: 'too old' } },
    ], at);
    const res = await s.fates.record(plans);
    t.same(res.map((x) => [x.plan.address, x.applied, x.previousStatus]), plans.map((p) => [p.address, true, 'queued']), 'every legal plan is applied, in order');
    for (const [i, p] of plans.entries()) await t.test(`${p.origin} → ${p.verdict.status} (${p.address})`, (t) => appliedAsPlanned(t, s, p, res[i]!));
    t.same(
      plans.map((p) => [p.address, p.status?.status]),
      [['ok@one.test', 'delivered'], ['gone@one.test', 'bounced'], ['late@two.test', 'deferred'], ['lost@three.test', 'expired'], ['purged@three.test', 'expired'], ['old@four.test', 'expired']],
      'the planner chose the statuses this test is about',
    );
    t.ok(plans[1]!.suppression, 'a hard bounce suppresses the address');
    const outbox = await s.dsnOutbox.list(0, 10);
    t.equal(outbox.length, 1, "the call's DSN lines for one message become ONE outbox row");
    t.same(outbox[0]!.recipients.map((x) => (x as { address: string }).address).sort(), plans.filter((p) => p.dsn).map((p) => p.address).sort());
    t.ok(plans[3]!.bodyLost, 'lost-body marks the body lost');
    t.equal(await s.messages.markBodyLost(m.message.id, at), false, 'so the body is already marked lost');

    // Later facts about the same recipients: an asynchronous bounce after delivery, a complaint.
    const ok = (await s.recipients.get(r('ok@one.test').id))!;
    const later = [
      ...fate.plan([{ origin: 'async-bounce', recipient: ok, facts: { reply: reply(550, '5.1.1', '550 5.1.1 mailbox gone'), remoteMta: 'mx.one.test', reportingMta: 'mx.one.test' } }], at + 1_000),
      ...fate.plan([{ origin: 'complaint', recipient: ok, facts: { feedbackType: 'abuse', userAgent: 'fbl/1', reportingMta: 'fbl.one.test', sourceIp: null, user: null } }], at + 1_001),
    ];
    const lres = await s.fates.record(later);
    t.same(lres.map((x) => [x.plan.origin, x.applied, x.previousStatus]), [['async-bounce', true, 'delivered'], ['complaint', true, 'bounced']], 'the second plan sees the status the first left');
    for (const [i, p] of later.entries()) await t.test(`${p.origin} (${p.address})`, (t) => appliedAsPlanned(t, s, p, lres[i]!));
    t.equal((await s.recipients.get(r('ok@one.test').id))!.status, 'bounced', 'a complaint leaves the status alone');
    t.equal((await s.suppressions.get('ok@one.test', null))?.source, 'complaint', 'and its suppression entry replaces the bounce one');

    // Illegal moves write nothing: a late attempt outcome on a final recipient, an expiry of a recipient a worker holds.
    await t.test('illegal moves write nothing', async (t) => {
      const claimed = await s.recipients.claim(at, at + 600_000, 'node-a', 10);
      t.same(claimed.map((x) => x.address).sort(), ['held@four.test', 'spam@two.test'], 'the recipients still due are claimed');
      const held = claimed.find((x) => x.address === 'held@four.test');
      const before = await snapshot(s, m.message.id);
      const illegal = fate.plan([
        { origin: 'attempt', recipient: r('gone@one.test'), facts: { fact: { kind: 'delivered', reply: reply(250, '2.0.0', '250 late') }, firstQueuedAt: T0, ctx } },
        { origin: 'admin-purge', recipient: r('ok@one.test'), facts: { reason: 'purge a bounced one' } },
        { origin: 'expiry', recipient: held!, facts: { reason: 'too old' } },
        { origin: 'lost-body', recipient: { ...r('lost@three.test'), id: 987_654 }, facts: { reason: 'gone' } },
      ], at + 2_000);
      t.equal(illegal[2]!.unlessLeasedAfter !== null, true, 'an expiry is not applied under a live lease');
      const ir = await s.fates.record(illegal);
      t.same(ir.map((x) => [x.applied, x.previousStatus, x.dsnRecorded]), [[false, 'bounced', false], [false, 'bounced', false], [false, 'queued', false], [false, null, false]]);
      t.same(await snapshot(s, m.message.id), before, 'no status, event, attempt, suppression or outbox row was written');
      t.same(await s.fates.record([]), [], 'no plans, no transaction');
    });

    await t.test('a delay report is recorded once per recipient', async (t) => {
      const late = (await s.recipients.get(r('late@two.test').id))!;
      const d = fate.plan([{ origin: 'attempt', recipient: late, facts: { fact: { kind: 'failed', phase: 'rcpt', reply: reply(451, '4.3.0', 'later') }, firstQueuedAt: T0, ctx } }], T0 + 2 * 3_600_000)[0]!;
      t.equal(d.dsnOnce, 'delay', 'the planner asks for a delay report');
      const [first] = await s.fates.record([{ ...d }]);
      t.equal(first!.dsnRecorded, true);
      const [second] = await s.fates.record([{ ...d, at: d.at + 1 }]);
      t.same([second!.applied, second!.dsnRecorded], [true, false], 'the second delay line is not written');
    });
  },
};

/** outcome/fate's planner with reports on (what the relay runs), over a fixed clock. */
export function planner() {
  return createFate({
    recordFates: async () => [],
    classifier: createClassifier(),
    retry: RETRY,
    clock: new ManualClock(T0),
    random: seededRandom(1),
    logger: silentLogger(),
    dsn: { onDropped: true, delayAfterHours: 1 },
  });
}

/** What a plan says it writes is what the store holds after it. */
async function appliedAsPlanned(t: Test, s: Store, p: FatePlan, res: FateResult): Promise<void> {
  t.equal(res.applied, true, 'applied');
  const r = (await s.recipients.get(p.recipientId))!;
  if (p.status) {
    t.same([r.status, r.nextAttemptAt, r.leaseUntil], [p.status.status, p.status.nextAttemptAt, null], 'status written');
    if (p.status.code !== null) t.equal(r.lastCode, p.status.code, 'reply code recorded');
  }
  if (p.complained) t.equal(r.complainedAt, p.at, 'complaint recorded');
  const ev = (await s.events.forMessage(p.messageId)).filter((e) => e.recipientId === p.recipientId && e.at === p.at);
  t.same(ev.map((e) => [e.type, e.status, e.category]), [[p.event.type, p.event.status, p.event.category]], 'one event, as planned');
  const att = (await s.attempts.forMessage(p.messageId)).filter((a) => a.recipientId === p.recipientId && a.at === p.attempt?.at);
  t.equal(att.length, p.attempt ? 1 : 0, p.attempt ? 'the attempt row' : 'no attempt row');
  if (p.attempt) t.same([att[0]!.result, att[0]!.code, att[0]!.mxHost], [p.attempt.result, p.attempt.code, p.attempt.mxHost]);
  if (p.suppression) {
    const e = await s.suppressions.get(p.suppression.address, p.suppression.scope);
    t.equal(e?.address, p.suppression.address, 'suppression entry');
  }
  t.equal(res.dsnRecorded, p.dsn !== null, p.dsn ? 'a DSN line is recorded' : 'no DSN line');
  if (p.bodyLost) t.equal((await s.messages.get(p.messageId))?.body ?? null, null, 'the body is gone');
}

/** Everything a fate may write about a message, to compare before and after. */
async function snapshot(s: Store, messageId: string) {
  return {
    recipients: (await s.recipients.forMessage(messageId)).map((r) => [r.id, r.status, r.attempts, r.updatedAt, r.complainedAt, r.dsnDelayAt]),
    events: (await s.events.forMessage(messageId)).length,
    attempts: (await s.attempts.forMessage(messageId)).length,
    suppressions: await s.suppressions.count(),
    outbox: await s.dsnOutbox.count(),
  };
}

/** The intake-drop plans outcome/fate makes for a message's dropped recipients (reports on). */
export function dropPlans(m: AcceptedMessage): FatePlan[] {
  const fate = createFate({
    fates: { record: async () => [] },
    classifier: createClassifier(),
    retry: RETRY,
    clock: new ManualClock(T0),
    random: seededRandom(1),
    logger: silentLogger(),
    dsn: { onDropped: true },
  });
  return fate.plan(bornDropped(m).map((d) => ({ origin: 'intake-drop' as const, recipient: d.recipient, facts: { reason: d.reason, category: d.category, suppressedAt: null } })));
}

const BLANK_STATUS: NonNullable<FatePlan['status']> = {
  status: 'expired', nextAttemptAt: null, attempted: false, code: null, enhanced: null, reply: null, category: null, mxHost: null, remoteIp: null, tlsProtocol: null, tlsCipher: null,
};

/** messages: a 100 KB inline body (SQLite keeps it apart from the row, migration 020), signed. */
async function largeBody(t: Test, s: Store): Promise<void> {
  const m = message({ at: T0 });
  const body = Buffer.alloc(100 * 1024, 'body line\r\n');
  const headers = m.message.headers;
  m.message.body = Buffer.from(body);
  m.message.size = headers.length + body.length;
  await s.queue.accept([m]);
  const id = m.message.id;
  const head = (await s.messages.head(id))!;
  t.same([head.headers, head.size, head.signedAt], [headers, headers.length + body.length, null]);
  // The engine either read it (body) or left it for a thread to read (bodyRef); either way the same bytes.
  const viaHead = head.bodyRef ? readStoredBody(head.bodyRef) : head.body;
  t.ok(viaHead?.equals(body), head.bodyRef ? 'the body read by reference' : 'the body read with the row');
  const signature = Buffer.from('DKIM-Signature: v=1; d=example.com\r\n');
  t.equal(await s.messages.markSigned(id, Buffer.concat([signature, headers]), T0 + 1), true);
  const signed = (await s.messages.get(id))!;
  t.same([signed.headers, signed.size, signed.signedAt], [Buffer.concat([signature, headers]), signature.length + headers.length + body.length, T0 + 1]);
  t.ok(signed.body?.equals(body), 'signing left the body as it was');
  const signedHead = (await s.messages.head(id))!;
  t.same(signedHead.headers, signed.headers);
  t.ok((signedHead.bodyRef ? readStoredBody(signedHead.bodyRef) : signedHead.body)?.equals(body));
}
