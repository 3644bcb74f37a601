import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { accepted } from '../../helpers/store.js';
import { message } from '../contract/fixtures.js';
import { dropPlans, planner } from '../contract/groups.js';

// Every remaining group of the engine against the real server, with the SQLite repositories'
// semantics (same names, arguments and results, asynchronous).

t.test('users, admins, DKIM keys, quotas and limits', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  t.equal(await s.users.add('app', 'h1', ['example.com'], 10), true);
  t.equal(await s.users.add('app', 'h2', [], 11), false, 'no second user of that name');
  t.equal(await s.users.setPassword('app', 'h3', 12), true);
  t.equal(await s.users.setFromDomains('app', ['a.test', 'b.test'], 13), true);
  t.equal(await s.users.setOneClickUnsubscribe('app', true, 14), true);
  t.same(await s.users.get('app'), { name: 'app', passwordHash: 'h3', fromDomains: ['a.test', 'b.test'], createdAt: 10, updatedAt: 14, oneClickUnsubscribe: true });
  t.equal((await s.users.list()).length, 1);

  await s.quota.set('app', { maxMessagesPerHour: 100, maxRecipientsPerDay: null }, 20);
  t.same(await s.quota.get('app'), { username: 'app', maxMessagesPerHour: 100, maxRecipientsPerDay: null, updatedAt: 20 });
  await s.quota.saveStates([{ username: 'app', windows: '{"hour":[[1,2]]}', updatedAt: 21 }]);
  t.same(await s.quota.state('app'), { username: 'app', windows: '{"hour":[[1,2]]}', updatedAt: 21 });
  await s.quota.set('app', { maxMessagesPerHour: null, maxRecipientsPerDay: null }, 22);
  t.equal(await s.quota.get('app'), undefined, 'a row with neither quota is removed');
  t.equal(await s.users.remove('app'), true);
  t.equal(await s.users.remove('app'), false);

  t.equal(await s.admins.add('root', 'h', 'admin', 1), true);
  t.equal(await s.admins.add('root', 'h', 'support', 2), false);
  t.equal(await s.admins.setPassword('root', 'h2', 3), true);
  t.same((await s.admins.list()).map((a) => [a.name, a.role, a.passwordHash]), [['root', 'admin', 'h2']]);
  t.equal(await s.admins.remove('root'), true);

  const key = { domain: 'Example.COM', selector: 's1', algorithm: 'rsa' as const, keyFile: '/etc/ferry/dkim/example.com.s1.pem', publicKey: 'MIIB', createdAt: 5 };
  await s.dkimKeys.add(key);
  await t.rejects(s.dkimKeys.add(key), { code: 'FERRY_ERR_EXISTS' });
  t.same((await s.dkimKeys.byDomain('example.com')).map((k) => [k.domain, k.selector, k.keyFile]), [['example.com', 's1', key.keyFile]]);
  t.equal(await s.dkimKeys.remove('EXAMPLE.com', 's1'), true);
  t.same(await s.dkimKeys.list(), []);

  await s.limits.set('gmail.com', { perMinute: 60, perHour: null, perDay: null, connections: 5, perConnection: null }, 30);
  const v1 = await s.limits.dataVersion();
  await s.limits.set('gmail.com', { perMinute: 30, perHour: null, perDay: null, connections: 5, perConnection: null }, 31);
  t.not(await s.limits.dataVersion(), v1, 'a change moves the data version');
  t.equal((await s.limits.get('gmail.com'))!.perMinute, 30);
  await s.limits.saveStates([{ bucket: 'gmail.com', target: 'gmail.com', windows: '{}', connections: 2, slowPerMinute: 15, slowRestoreTo: 30, slowSince: 1, slowUntil: 2, slowNextStepAt: 3, slowLastHalvedAt: 1, slowReason: '421 too fast', updatedAt: 40 }]);
  t.equal((await s.limits.states())[0]!.slowPerMinute, 15);
  await s.limits.saveStates([], ['gmail.com']);
  t.same(await s.limits.states(), []);
  t.equal(await s.limits.remove('gmail.com'), true);
});

t.test('suppressions: upsert, list, count, clear, import, drops', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  const base = { domain: 'x.test', category: 'user_unknown', reason: '550 no such user', source: 'bounce' as const, createdAt: 100, expiresAt: null };
  const first = await s.suppressions.upsert({ ...base, address: 'a@x.test', scope: null });
  t.equal(first.created, true);
  t.equal(first.row.scope, null, "global scope read back as null");
  const again = await s.suppressions.upsert({ ...base, address: 'a@x.test', scope: null, reason: 'again', createdAt: 200 });
  t.equal(again.created, false);
  t.equal(again.row.createdAt, 100, 'an unexpired entry keeps its creation time');
  await s.suppressions.upsert({ ...base, address: 'a@x.test', scope: 'app', source: 'manual' });
  t.same((await s.suppressions.forAddress('a@x.test')).map((r) => r.scope), [null, 'app'], 'global first');
  t.equal((await s.suppressions.lookup('a@x.test', 'x.test', 'app', 150))!.scope, null, 'global wins over scope');
  await s.suppressions.hitMany([[first.row.id, 3, 500]]);
  await s.suppressions.hit(first.row.id, 400);
  const hit = (await s.suppressions.get('a@x.test', null))!;
  t.same([hit.hits, hit.lastHitAt], [4, 500]);
  t.equal(await s.suppressions.count({ search: 'AGAIN' }), 1, 'search is case-insensitive');
  t.equal(await s.suppressions.count({ scope: 'app' }), 1);
  t.same((await s.suppressions.list({}, 1)).length, 1);

  const imp = await s.suppressions.importBegin();
  await s.suppressions.importStage(imp, [
    { ...base, address: 'b@x.test', scope: null, source: 'import', reason: 'first' },
    { ...base, address: 'b@x.test', scope: null, source: 'import', reason: 'last line wins' },
    { ...base, address: 'c@x.test', scope: null, source: 'import' },
  ]);
  t.equal(await s.suppressions.count({}), 2, 'nothing applied before commit');
  t.equal(await s.suppressions.importCommit(imp), 3);
  t.equal((await s.suppressions.get('b@x.test', null))!.reason, 'last line wins');
  const page1 = await s.suppressions.page(0, 2);
  const page2 = await s.suppressions.page(page1.at(-1)!.id, 2);
  t.equal(page1.length + page2.length, 4, 'paged iteration sees every entry');
  const aborted = await s.suppressions.importBegin();
  await s.suppressions.importStage(aborted, [{ ...base, address: 'z@x.test', scope: null, source: 'import' }]);
  await s.suppressions.importAbort(aborted);
  t.equal(await s.suppressions.get('z@x.test', null), undefined, 'an aborted import changes nothing');

  const m = message({ id: 'DROP1', recipients: [], dropped: ['A@x.test'] });
  m.recipients[0] = { ...m.recipients[0]!, reason: 'suppressed: bounce' };
  m.dropFates = dropPlans(m);
  await s.queue.accept([m]);
  t.same((await s.suppressions.drops('a@x.test', 10)).map((d) => [d.messageId, d.reason, d.sender]), [['DROP1', 'suppressed: bounce', 'app@example.com']]);
  t.equal((await s.suppressions.drops('@x.test', 10)).length, 1, 'by domain');
  t.equal(await s.suppressions.clear({ source: 'import' }), 2);
  t.equal(await s.suppressions.remove('a@x.test', 'app'), true);
  t.equal(await s.suppressions.remove('a@x.test', 'app'), false);
});

t.test('events, attempts, DSN outbox, stats, queue admin and retention', async (t) => {
  const { url } = await testPg();
  const s = await openTestStore(t, url, 'n1');
  await s.queue.accept([accepted({ id: 'M1', at: 1_000, recipients: ['a@x.test', 'b@y.test'] }), accepted({ id: 'M2', at: 2_000, recipients: ['c@y.test'] })]);
  const [a, b] = await s.recipients.forMessage('M1');
  t.equal((await s.events.list({ limit: 10, type: 'queued' })).length, 3);
  t.equal(await s.events.count({ messageId: 'M1' }), 2);
  t.same((await s.events.list({ limit: 1, order: 'desc' }))[0]!.messageId, 'M2');
  t.equal(await s.events.lastId(), (await s.events.list({ limit: 1, order: 'desc' }))[0]!.id);

  await s.recipients.claim(3_000, 63_000, 'n1', 1);
  await s.attempts.insert({ recipientId: a!.id, messageId: 'M1', at: 3_100, durationMs: 50, result: 'deferred', phase: 'rcpt', mxHost: 'mx.x.test', ip: '127.0.0.2', port: 25, tlsProtocol: null, tlsCipher: null, code: 451, enhanced: '4.7.1', reply: 'try later', rcptReply: '451 4.7.1 try later', errorKind: null, error: null, category: 'temporary', rule: 'r1', hops: [{ host: 'mx.x.test' }] });
  await s.recipients.changeStatus(a!.id, { status: 'deferred', at: 3_100, nextAttemptAt: 10_000, attempted: true, code: 451, reply: 'try later', category: 'temporary' });
  await s.events.append({ at: 3_100, messageId: 'M1', recipientId: a!.id, recipient: 'a@X.test', type: 'deferred', status: 'deferred', category: 'temporary', detail: null });
  t.equal(await s.attempts.streakSince(a!.id, 'temporary'), 3_100);
  t.same((await s.attempts.forMessage('M1'))[0]!.hops, [{ host: 'mx.x.test' }]);
  t.same(await s.stats.queueDepth(), { queued: 2, deferred: 1 });
  t.equal((await s.stats.oldestQueued())!.messageId, 'M1');
  t.same(await s.stats.attemptsSince(0), { deferred: 1 });
  t.same(await s.stats.failingDestinations(0, 5), [{ domain: 'x.test', deferred: 1, bounced: 0 }]);
  t.same(await s.stats.suppressions(0), { total: 0, added: 0 });
  t.equal((await s.stats.recipientsSince(0)).messages, 2);

  const sum = await s.queueAdmin.summary(3_500);
  t.same(sum.map((d) => [d.domain, d.queued, d.deferred]), [['y.test', 2, 0], ['x.test', 0, 1]]);
  t.equal(await s.queueAdmin.retry({ domain: 'x.test' }, 4_000), 1);
  const pending = await s.queueAdmin.pending({ messageId: 'M1' });
  t.same(pending.map((r) => r.address), ['a@x.test', 'b@y.test']);
  const purged = await s.fates.record(planner().plan(pending.map((r) => ({ origin: 'admin-purge' as const, recipient: r, facts: { reason: 'purged by admin' } })), 5_000));
  t.same(purged.map((r) => r.applied), [true, true]);
  const [report] = await s.dsnOutbox.list(0, 10);
  t.same((report!.recipients as { address: string }[]).map((r) => r.address), ['a@x.test', 'b@y.test'], 'a purge reports to the sender: one report for the message');
  await s.dsnOutbox.remove(report!.id);
  t.equal(await s.queueAdmin.messageExists('M1'), true);

  const dsnId = await s.dsnOutbox.add('M1', [{ id: b!.id }], 5_000);
  t.same((await s.dsnOutbox.list(0, 10)).map((d) => [d.id, d.messageId, d.recipients]), [[dsnId, 'M1', [{ id: b!.id }]]]);
  t.equal(await s.dsnOutbox.count(), 1);

  // Retention: M1 is finished (its body can go); M2 still waits (its body stays).
  const bodies = await s.retention.bodies({ createdAt: -Infinity, id: '' }, 10);
  t.same(bodies.map((x) => [x.id, x.pending]), [['M1', false], ['M2', true]]);
  t.equal(await s.retention.clearBody('M2', 6_000), false, 'a pending message keeps its body');
  t.equal(await s.retention.clearBody('M1', 6_000), true);
  t.same(await s.messages.bodyInfo('M1'), { held: false, bytes: 6 });
  t.equal((await s.pool.query("SELECT 1 FROM message_chunks WHERE message_id = 'M1'")).rowCount, 0, 'its chunks are gone');
  t.equal(await s.retention.keepReason('M1', 1_000_000, Infinity), 'dsn', 'a DSN still to be queued keeps the record');
  await s.dsnOutbox.remove(dsnId);
  t.equal(await s.retention.keepReason('M1', 1_000_000, Infinity), null);
  t.equal(await s.retention.keepReason('M1', 1_000_000, 0), 'webhook');
  t.equal(await s.retention.webhookSentUpTo([]), Infinity);
  t.same(await s.retention.countRecord('M1'), { recipients: 2, attempts: 1, events: 5 });
  t.same(await s.retention.deleteRecord('M1'), { recipients: 2, attempts: 1, events: 5 });
  t.same((await s.retention.oldMessages(10_000, { createdAt: -Infinity, id: '' }, 10)).map((m) => m.id), ['M2']);

  const hourly = await s.pool.query("SELECT domain, deferred, expired FROM stats_hourly WHERE domain IN ('*','x.test') ORDER BY domain");
  t.same(hourly.rows, [{ domain: '*', deferred: 1, expired: 2 }, { domain: 'x.test', deferred: 1, expired: 1 }], 'the rollup trigger counted');
});
