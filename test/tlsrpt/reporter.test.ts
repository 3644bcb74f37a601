import t from 'tap';
import { simpleParser } from 'mailparser';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDnsResolver } from '../../src/core/resolver.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { createTlsReportRepo } from '../../src/store/tls-report-repo.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { createTlsReportSink } from '../../src/tlsrpt/sink.js';
import { createTlsReporter, type TlsReporterSettings } from '../../src/tlsrpt/reporter.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { testDb } from '../helpers/store.js';
import { parseReport, rfc8460Problems, ruaCert, session, startReportReceiver } from './fixtures.js';

/**
 * The sink and the daily reporter on an injected clock, a real SQLite file, a DNS server
 * answering _smtp._tls TXT records and an HTTPS server receiving reports, all on loopback.
 */

const DAY1 = Date.UTC(2026, 2, 10);
const DAY_MS = 86_400_000;
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0], clock: ManualClock) {
  const { db } = testDb(t);
  // The sink writes through the Store; the assertions (and the reporter) read the tables.
  const repo = createTlsReportRepo(db);
  const sink = createTlsReportSink({ store: createInProcessSqliteStore(db).tlsReports, clock, logger: silentLogger(), flushIntervalMs: 5_000 });
  return { db, repo, sink, queue: createQueueStore(db) };
}

t.test('the sink counts in memory and writes one batch per interval and at stop', async (t) => {
  const clock = new ManualClock(DAY1 + 3_600_000);
  const { repo, sink } = setup(t, clock);
  sink.start();
  const at = clock.now();
  sink.record(session({ at, policyDomain: 'Example.TEST' }));
  sink.record(session({ at, policyDomain: 'example.test' }));
  sink.record(session({ at, policyDomain: 'example.test', result: 'certificate-expired', detail: 'certificate has expired' }));
  sink.record(session({ at, policyDomain: 'example.test', result: 'certificate-expired', detail: 'certificate has expired' }));
  sink.record(session({ at, policyDomain: 'example.test', result: 'starttls-not-supported', mxHost: 'mx2.example.test', receivingIp: '127.0.0.3', receivingMxHelo: null }));
  t.equal(sink.pending, 5);
  t.same(repo.day('2026-03-10'), [], 'nothing written before the interval');
  clock.advance(5_000);
  await tick();
  t.equal(sink.pending, 0);
  const [p, ...rest] = repo.day('2026-03-10');
  t.equal(rest.length, 0, 'one policy row');
  t.equal(p!.policyDomain, 'example.test', 'policy domain lower-cased');
  t.equal(p!.success, 2);
  t.equal(p!.failure, 3);
  t.same(
    p!.failures.map((f) => [f.resultType, f.receivingMxHostname, f.receivingIp, f.receivingMxHelo, f.count]),
    [
      ['certificate-expired', 'mx1.example.test', '127.0.0.2', 'mx1.example.test', 2],
      ['starttls-not-supported', 'mx2.example.test', '127.0.0.3', '', 1],
    ],
  );
  // A second interval adds to the same rows; stop writes what is left without waiting.
  sink.record(session({ at: clock.now(), policyDomain: 'example.test' }));
  sink.record(session({ at: clock.now(), policyDomain: 'example.test', result: 'certificate-expired', detail: 'certificate has expired' }));
  await sink.stop();
  const [q] = repo.day('2026-03-10');
  t.equal(q!.success, 3);
  t.equal(q!.failures[0]!.count, 3);
  t.equal(sink.pending, 0);
});

t.test('the timer writes many policies a chunk per turn of the event loop, never all at once', async (t) => {
  const clock = new ManualClock(DAY1);
  const { db } = testDb(t);
  const repo = createTlsReportRepo(db);
  const batches: number[] = [];
  const sink = createTlsReportSink({ store: { add: async (d) => (batches.push(d.length), repo.add(d)) }, clock, logger: silentLogger(), flushIntervalMs: 5_000, chunk: 2 });
  sink.start();
  for (let i = 0; i < 5; i++) sink.record(session({ at: DAY1, policyDomain: `d${i}.test` }));
  clock.advance(5_000);
  await Promise.resolve();
  t.same(batches, [2], 'one chunk at the timer');
  t.equal(sink.pending, 5, 'the chunk being written still counts until it is stored');
  // Each later chunk is written a turn after the one before was stored.
  for (let i = 0; i < 400 && sink.pending > 0; i++) await tick(5);
  t.same(batches, [2, 2, 1], 'the rest on later turns');
  t.equal(repo.day('2026-03-10').length, 5);
  t.equal(sink.pending, 0);
  await sink.stop();
});

t.test('sessions are counted on their UTC day, per policy', async (t) => {
  const clock = new ManualClock(DAY1);
  const { repo, sink } = setup(t, clock);
  sink.record(session({ at: DAY1 + DAY_MS - 1, policyDomain: 'example.test' }));
  sink.record(session({ at: DAY1 + DAY_MS, policyDomain: 'example.test' }));
  sink.record(session({ at: DAY1 + DAY_MS, policyDomain: 'example.test', policy: { type: 'no-policy-found', strings: [], mxHosts: [] } }));
  await sink.flush();
  t.same(repo.day('2026-03-10').map((p) => [p.policy.type, p.success]), [['sts', 1]]);
  t.same(repo.day('2026-03-11').map((p) => [p.policy.type, p.success]).sort(), [['no-policy-found', 1], ['sts', 1]]);
  t.same(repo.day('2026-03-11').find((p) => p.policy.type === 'sts')!.policy.mxHosts, ['*.example.test']);
});

t.test('record never throws into a delivery, and a store failure is logged, not thrown', async (t) => {
  const clock = new ManualClock(DAY1);
  let fail = true;
  const sink = createTlsReportSink({
    store: {
      async add() {
        if (fail) throw new Error('disk gone');
      },
    },
    clock,
    logger: silentLogger(),
    flushIntervalMs: 1000,
  });
  sink.record(session({ at: Number.NaN, policyDomain: 'example.test' }));
  sink.record(session({ at: DAY1, policyDomain: 'example.test' }));
  await t.resolves(sink.flush(), 'a store failure is logged');
  fail = false;
  t.equal(sink.pending, 0);
});

const settings = (over: Partial<TlsReporterSettings> = {}): TlsReporterSettings => ({
  organization: 'Ferry Test Org',
  contact: 'postmaster@ferry.test',
  submitter: 'relay.ferry.test',
  from: 'tlsrpt-noreply@ferry.test',
  sendDelayMinutes: 30,
  checkIntervalMs: 600_000,
  maxAgeDays: 3,
  keepDays: 31,
  https: { timeoutMs: 2_000, attempts: 3, retryDelayMs: 60_000 },
  ...over,
});

/** Runs a reporter pass whose https retries wait on the manual clock. */
async function drive<T>(clock: ManualClock, work: Promise<T>, stepMs: number): Promise<T> {
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    await tick(10);
    clock.advance(stepMs);
  }
  return work;
}

t.test('after the UTC day ends: one RFC 8460 report per domain, to https and mailto destinations, never twice', async (t) => {
  const receiver = await startReportReceiver(t, [200]);
  const failing = await startReportReceiver(t, [500]);
  const dns = await startDnsServer({
    'rua.example.test': { A: ['127.0.0.1'] },
    '_smtp._tls.example.test': { TXT: ['v=spf1 -all', `v=TLSRPTv1; rua=https://rua.example.test:${receiver.port}/v1/tlsrpt`] },
    '_smtp._tls.mail.test': { TXT: ['v=TLSRPTv1; rua=mailto:tls-reports@reports.test,mailto:other@reports.test'] },
    '_smtp._tls.failing.test': { TXT: [`v=TLSRPTv1; rua=https://rua.example.test:${failing.port}/r`] },
    // none.test: no record at all (NXDOMAIN)
  });
  t.teardown(() => dns.close());
  const clock = new ManualClock(DAY1 + 10 * 3_600_000);
  const { db, repo, sink, queue } = setup(t, clock);
  for (const domain of ['example.test', 'mail.test', 'none.test', 'failing.test']) {
    sink.record(session({ at: clock.now(), policyDomain: domain }));
    sink.record(session({ at: clock.now(), policyDomain: domain, result: 'validation-failure', detail: 'self-signed certificate' }));
  }
  let ids = 0;
  const queued: string[] = [];
  const make = () =>
    createTlsReporter({
      store: createInProcessSqliteStore(db),
      repo,
      resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
      clock,
      logger: silentLogger(),
      newId: () => `TLSRPT${++ids}`,
      settings: settings(),
      userAgent: 'Ferry/test',
      httpsCa: ruaCert().cert,
      beforeReport: () => sink.flush(),
      onQueued: (id) => queued.push(id),
    });
  const reporter = make();

  t.same(await reporter.runOnce(), [], 'nothing while the day is running');
  clock.advance(14 * 3_600_000 + 29 * 60_000); // 00:29 the next day: within sendDelayMinutes
  t.same(await reporter.runOnce(), [], 'nothing before sendDelayMinutes after midnight');
  clock.advance(60_000);
  const results = await drive(clock, reporter.runOnce(), 60_000);
  t.same(results.map((r) => [r.policyDomain, r.state]).sort(), [['example.test', 'sent'], ['failing.test', 'sent'], ['mail.test', 'sent'], ['none.test', 'no-record']].sort());

  // https: one POST of the gzipped JSON
  t.equal(receiver.posts.length, 1);
  const post = receiver.posts[0]!;
  t.equal(post.path, '/v1/tlsrpt');
  t.equal(post.contentType, 'application/tlsrpt+gzip');
  const report = parseReport(post.body);
  t.same(rfc8460Problems(report), [], 'RFC 8460 shape');
  t.equal(report['organization-name'], 'Ferry Test Org');
  t.equal(report['contact-info'], 'postmaster@ferry.test');
  t.equal(report['report-id'], '2026-03-10.example.test@relay.ferry.test');
  t.same(report['date-range'], { 'start-datetime': '2026-03-10T00:00:00Z', 'end-datetime': '2026-03-10T23:59:59Z' });
  t.equal(report.policies.length, 1);
  const p = report.policies[0]!;
  t.same(p.policy, { 'policy-type': 'sts', 'policy-domain': 'example.test', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: *.example.test', 'max_age: 86400'], 'mx-host': ['*.example.test'] });
  t.same(p.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 });
  t.same(p['failure-details'], [
    { 'result-type': 'validation-failure', 'receiving-mx-hostname': 'mx1.example.test', 'receiving-ip': '127.0.0.2', 'receiving-mx-helo': 'mx1.example.test', 'failed-session-count': 1, 'failure-reason-code': 'self-signed certificate' },
  ]);

  // a failing https destination is tried httpsAttempts times, then recorded as failed
  t.equal(failing.posts.length, 3, 'three attempts');
  t.same(repo.sent('2026-03-10', 'failing.test').map((r) => [r.destination, r.state]), [['', 'done'], [`https://rua.example.test:${failing.port}/r`, 'failed']]);

  // mailto: one message through the queue, to both addresses, recorded with it
  t.equal(queued.length, 1);
  const m = queue.messages.get(queued[0]!)!;
  t.equal(m.kind, 'tlsrpt');
  t.equal(m.sender, '', 'null envelope sender');
  t.same(queue.recipients.forMessage(m.id).map((r) => [r.address, r.status]).sort(), [['other@reports.test', 'queued'], ['tls-reports@reports.test', 'queued']]);
  const mail = await simpleParser(Buffer.concat([m.headers, m.body!]));
  t.match(mail.headers.get('content-type'), { value: 'multipart/report', params: { 'report-type': 'tlsrpt' } });
  t.equal(mail.headers.get('tls-report-domain'), 'mail.test');
  t.equal(mail.headers.get('tls-report-submitter'), 'relay.ferry.test');
  t.equal(mail.subject, 'Report Domain: mail.test Submitter: relay.ferry.test Report-ID: <2026-03-10.mail.test@relay.ferry.test>');
  t.equal(mail.attachments.length, 1);
  const att = mail.attachments[0]!;
  t.equal(att.contentType, 'application/tlsrpt+gzip');
  t.equal(att.filename, `relay.ferry.test!mail.test!${DAY1 / 1000}!${(DAY1 + DAY_MS) / 1000 - 1}.json.gz`);
  t.same(rfc8460Problems(parseReport(att.content)), []);
  t.equal(parseReport(att.content).policies[0]!.policy['policy-domain'], 'mail.test');

  // nothing twice: not on the next pass, not after a restart (a new reporter on the same store)
  t.same(await reporter.runOnce(), []);
  await reporter.stop();
  const again = make();
  clock.advance(3_600_000);
  t.same(await again.runOnce(), []);
  const forced = await again.sendDay('2026-03-10');
  t.same(forced, [], 'even --send finds nothing left to send');
  t.equal(receiver.posts.length, 1);
  t.equal(queued.length, 1);
  t.equal((db.prepare("SELECT COUNT(*) AS n FROM messages WHERE kind = 'tlsrpt'").get() as { n: number }).n, 1);
});

t.test('a DNS failure leaves the day for the next pass; days older than maxAgeDays are not reported', async (t) => {
  const receiver = await startReportReceiver(t, [200]);
  const dns = await startDnsServer({ '_smtp._tls.example.test': { rcode: 'SERVFAIL' }, 'rua.example.test': { A: ['127.0.0.1'] } });
  t.teardown(() => dns.close());
  const clock = new ManualClock(DAY1 + 3_600_000);
  const { db, repo, sink, queue } = setup(t, clock);
  sink.record(session({ at: clock.now(), policyDomain: 'example.test' }));
  sink.record(session({ at: clock.now() - 10 * DAY_MS, policyDomain: 'old.test' }));
  const reporter = createTlsReporter({
    db, queue, repo, clock, logger: silentLogger(), newId: () => 'X1', settings: settings(), userAgent: 'Ferry/test', httpsCa: ruaCert().cert,
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
    beforeReport: () => sink.flush(),
  });
  clock.advance(DAY_MS);
  const first = await reporter.runOnce();
  t.same(first.map((r) => [r.policyDomain, r.state]), [['example.test', 'retry-later']], 'old.test (10 days ago) is not tried');
  t.same(repo.sent('2026-03-10', 'example.test'), [], 'nothing recorded: tried again later');
  dns.setZone({ '_smtp._tls.example.test': { TXT: [`v=TLSRPTv1; rua=https://rua.example.test:${receiver.port}/`] }, 'rua.example.test': { A: ['127.0.0.1'] } });
  const second = await reporter.runOnce();
  t.same(second.map((r) => [r.policyDomain, r.state]), [['example.test', 'sent']]);
  t.equal(receiver.posts.length, 1);
  await reporter.stop();
});

t.test('the timer: the reporter looks on its own after each checkInterval', async (t) => {
  const receiver = await startReportReceiver(t, [200]);
  const dns = await startDnsServer({ '_smtp._tls.example.test': { TXT: [`v=TLSRPTv1; rua=https://rua.example.test:${receiver.port}/`] }, 'rua.example.test': { A: ['127.0.0.1'] } });
  t.teardown(() => dns.close());
  const clock = new ManualClock(DAY1 + 23 * 3_600_000);
  const { db, repo, sink, queue } = setup(t, clock);
  const reporter = createTlsReporter({
    db, queue, repo, clock, logger: silentLogger(), newId: () => 'X1', settings: settings(), userAgent: 'Ferry/test', httpsCa: ruaCert().cert,
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
    beforeReport: () => sink.flush(),
  });
  sink.start();
  reporter.start();
  sink.record(session({ at: clock.now(), policyDomain: 'example.test' }));
  for (let i = 0; i < 12 && receiver.posts.length === 0; i++) {
    clock.advance(600_000);
    for (let j = 0; j < 20 && receiver.posts.length === 0; j++) await tick(10);
  }
  t.equal(receiver.posts.length, 1, 'sent at the first look after 00:30 UTC');
  t.equal(parseReport(receiver.posts[0]!.body).policies[0]!.summary['total-successful-session-count'], 1);
  await reporter.stop();
  await sink.stop();
});
