import type { Test } from 'tap';
import type { EngineFactory } from './engines.js';
import { message } from './fixtures.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { FatePlan } from '../../../src/core/fate.js';
import type { AcceptedMessage } from '../../../src/core/store-types.js';
import { bornDropped } from '../../../src/store/queue-store.js';
import { RETRY } from '../../helpers/fate.js';
import { createFate } from '../../../src/outcome/fate.js';
import { createClassifier } from '../../../src/classify/classifier.js';
import { seededRandom } from '../../../src/core/random.js';
import { silentLogger } from '../../../src/core/logger.js';

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
    t.type(s.fates, 'object', 'the fates group exists (outcome/fate fills it)');
  },
};

/** The intake-drop plans outcome/fate makes for a message's dropped recipients (reports on). */
function dropPlans(m: AcceptedMessage): FatePlan[] {
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
