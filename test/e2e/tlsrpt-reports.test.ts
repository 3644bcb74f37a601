import t from 'tap';
import { simpleParser } from 'mailparser';
import { utcDay } from '../../src/tlsrpt/sink.js';
import { createTlsReportRepo } from '../../src/store/tls-report-repo.js';
import { parseReport, rfc8460Problems, ruaCert, startReportReceiver } from '../tlsrpt/fixtures.js';
import { seededRandom } from '../../src/core/random.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { startRelay } from '../helpers/relay.js';
import { defaultZone, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

/**
 * TLS-RPT end to end through the real relay: deliveries to example.test's MX are counted, and
 * the day's report for example.test (which publishes `_smtp._tls` with a mailto: rua) goes out
 * through Ferry's own queue to the reports domain's MX, where it parses as RFC 8460 JSON.
 */

t.test('a delivery is counted and the report mail reaches the rua mailbox as RFC 8460 JSON', async (t) => {
  const zone = {
    ...defaultZone(),
    '_smtp._tls.example.test': { TXT: ['v=TLSRPTv1; rua=mailto:tlsrpt@reports.test'] },
    'reports.test': { MX: [{ exchange: 'mx2.example.test', priority: 10 }] },
  };
  const { mx, mx2, ferry, relay } = await setupDelivery(t, {
    zone,
    mx: { tls: true },
    mx2: { tls: false },
    config: { tlsRpt: { enabled: true, organization: 'Ferry E2E', contact: 'postmaster@ferry.test', flushIntervalMs: 60_000 } },
  });
  const id = await send(relay, { to: ['frank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(mx!.messages.length, 1);

  // Counted in memory (flushIntervalMs is a minute); the report pass stores the counts first.
  const day = utcDay(Date.now());
  t.same(createTlsReportRepo(ferry.db).day(day), [], 'not written at once');
  t.ok(ferry.tlsReports.sink.pending >= 1, 'counted in memory');
  const results = await ferry.tlsReports.reporter!.sendDay(day);
  t.same(results.map((x) => [x.policyDomain, x.state]), [['example.test', 'sent']]);

  await mx2!.waitForMessages(1, 10_000);
  const got = mx2!.messages[0]!;
  t.equal(got.envelope.from, '', 'null envelope sender');
  t.same(got.envelope.to, ['tlsrpt@reports.test']);
  const mail = await simpleParser(got.raw);
  t.match(mail.headers.get('content-type'), { value: 'multipart/report', params: { 'report-type': 'tlsrpt' } });
  t.equal(mail.headers.get('tls-report-domain'), 'example.test');
  t.equal(mail.headers.get('tls-report-submitter'), 'ferry.test');
  t.match(mail.subject, /^Report Domain: example\.test Submitter: ferry\.test Report-ID: </);
  t.equal(mail.attachments.length, 1);
  const att = mail.attachments[0]!;
  t.equal(att.contentType, 'application/tlsrpt+gzip');
  t.match(att.filename, /^ferry\.test!example\.test!\d+!\d+\.json\.gz$/);
  const report = parseReport(att.content);
  t.same(rfc8460Problems(report), [], 'RFC 8460 shape');
  t.equal(report['organization-name'], 'Ferry E2E');
  t.equal(report['contact-info'], 'postmaster@ferry.test');
  t.equal(report['date-range']['start-datetime'], `${day}T00:00:00Z`);
  t.equal(report.policies.length, 1);
  const p = report.policies[0]!;
  // Until MTA-STS/DANE are wired in (tls-sts), every session is opportunistic: no-policy-found.
  t.equal(p.policy['policy-type'], 'no-policy-found');
  t.equal(p.policy['policy-domain'], 'example.test');
  t.same(p.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 0 });

  // Recorded: asking again sends nothing for example.test (the report's own delivery to
  // reports.test was counted too; that domain publishes no record).
  const again = await ferry.tlsReports.reporter!.sendDay(day);
  t.same(again.map((x) => [x.policyDomain, x.state]), [['reports.test', 'no-record']]);
  const sent = createTlsReportRepo(ferry.db).sent(day, 'example.test');
  t.same(sent.map((s) => [s.destination, s.state]), [['', 'done'], ['mailto:tlsrpt@reports.test', 'queued']]);
});

t.test('a session to an MX without STARTTLS is counted as starttls-not-supported with the MX details', async (t) => {
  const { ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  t.equal(ferry.tlsReports.reporter, null, 'without tlsRpt.enabled no report is sent (counting goes on)');
  const id = await send(relay, { to: ['frank@example.test'] });
  await waitFor(ferry, id, isStatus('delivered'));
  await ferry.tlsReports.sink.flush();
  const [p] = createTlsReportRepo(ferry.db).day(utcDay(Date.now()));
  t.equal(p!.policyDomain, 'example.test');
  t.equal(p!.success, 0);
  t.equal(p!.failure, 1);
  t.same(p!.failures.map((f) => [f.resultType, f.receivingMxHostname, f.receivingIp, f.count]), [['starttls-not-supported', 'mx1.example.test', '127.0.0.2', 1]]);
});

t.test('an https rua gets the report by POST from the relay, resolved through the relay\'s DNS', async (t) => {
  const receiver = await startReportReceiver(t, [503, 200]);
  const mx = await startMx({ host: '127.0.0.2', tls: true });
  const dns = await startDnsServer({
    ...defaultZone(),
    '_smtp._tls.example.test': { TXT: [`v=TLSRPTv1; rua=https://rua.example.test:${receiver.port}/tlsrpt`] },
    'rua.example.test': { A: ['127.0.0.1'] },
  });
  t.teardown(async () => {
    await mx.close();
    await dns.close();
  });
  const relay = await startRelay(
    t,
    {
      dmarc: { mode: 'off' },
      dns: { servers: [dns.address], timeoutMs: 500, tries: 1 },
      delivery: { allowPrivateMx: true, port: mx.port, connectTimeoutMs: 2000, greetingTimeoutMs: 2000, commandTimeoutMs: 2000, dataTimeoutMs: 2000 },
      tlsRpt: { enabled: true, organization: 'Ferry E2E', contact: 'https://ferry.test/contact', httpsRetryDelayMs: 50 },
    },
    { random: seededRandom(7), tlsRptHttpsCa: ruaCert().cert },
  );
  const id = await send(relay, { to: ['frank@example.test'] });
  await waitFor(relay.ferry, id, isStatus('delivered'));
  const day = utcDay(Date.now());
  const results = await relay.ferry.tlsReports.reporter!.sendDay(day);
  t.same(results.map((x) => [x.policyDomain, x.state]), [['example.test', 'sent']]);
  t.equal(receiver.posts.length, 2, 'a 503, then tried again');
  const post = receiver.posts[1]!;
  t.equal(post.path, '/tlsrpt');
  t.equal(post.contentType, 'application/tlsrpt+gzip');
  const report = parseReport(post.body);
  t.same(rfc8460Problems(report), []);
  t.equal(report['contact-info'], 'https://ferry.test/contact');
  t.same(report.policies[0]!.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 0 });
  t.same(
    createTlsReportRepo(relay.ferry.db).sent(day, 'example.test').map((s) => [s.destination, s.state, s.detail]),
    [['', 'done', `https://rua.example.test:${receiver.port}/tlsrpt`], [`https://rua.example.test:${receiver.port}/tlsrpt`, 'sent', 'HTTP 200']],
  );
});

t.test('TLS required but the MX offers no STARTTLS: deferred, and counted as a starttls-not-supported failure with the reason', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false }, mx2: { tls: false }, delivery: { requireTlsDomains: ['example.test'] } });
  const id = await send(relay, { to: ['frank@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('deferred', 'bounced', 'delivered'));
  t.equal(r!.status, 'deferred');
  t.equal(mx!.messages.length, 0);
  await ferry.tlsReports.sink.flush();
  const [p] = createTlsReportRepo(ferry.db).day(utcDay(Date.now()));
  t.equal(p!.success, 0);
  t.equal(p!.failure, 2, 'both MX hosts');
  t.same(p!.failures.map((f) => [f.resultType, f.receivingMxHostname]).sort(), [['starttls-not-supported', 'mx1.example.test'], ['starttls-not-supported', 'mx2.example.test']]);
  t.match(p!.failures[0]!.failureReasonCode, /did not offer STARTTLS/);
});
