import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { smtpError } from '../../src/core/errors.js';
import { createMetrics, refusalReason } from '../../src/ops/metrics.js';

function metrics(maxDestinations = 500) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const m = createMetrics({
    clock,
    version: '9.9.9',
    queueDepth: () => ({ queued: 4, deferred: 2 }),
    oldestQueuedAt: () => clock.now() - 90_000,
    activeSessions: () => 3,
    outboundConnections: () => 5,
    disk: () => ({ freeBytes: 1234, low: false }),
    maxDestinations,
  });
  return { clock, m };
}

t.test('gauges read their sources at scrape time; a registry per relay', async (t) => {
  const { m } = metrics();
  const text = await m.render();
  t.match(text, /^ferry_queue_recipients\{status="queued"\} 4$/m);
  t.match(text, /^ferry_queue_recipients\{status="deferred"\} 2$/m);
  t.match(text, /^ferry_queue_oldest_age_seconds 90$/m);
  t.match(text, /^ferry_smtp_sessions_active 3$/m);
  t.match(text, /^ferry_outbound_connections_active 5$/m);
  t.match(text, /^ferry_disk_free_bytes 1234$/m);
  t.match(text, /^ferry_info\{version="9\.9\.9"\} 1$/m);
  t.match(text, /^process_cpu_user_seconds_total /m, 'process metrics included');
  const other = metrics().m;
  other.refused('mail', 'disk_full');
  t.notMatch(await m.render(), /reason="disk_full"/, 'counters are not shared between relays');
});

t.test('accepted, dropped, attempted; latency; destination labels are capped', async (t) => {
  const { clock, m } = metrics(2);
  m.messageAccepted([{ status: 'queued', category: null }, { status: 'dropped', category: 'user_unknown' }]);
  const at = clock.now() - 30_000;
  m.attempted([
    { domain: 'a.test', status: 'delivered', category: null, acceptedAt: at },
    { domain: 'b.test', status: 'deferred', category: 'temporary', acceptedAt: at },
    { domain: 'c.test', status: 'bounced', category: 'user_unknown', acceptedAt: at },
    { domain: 'a.test', status: 'expired', category: 'temporary', acceptedAt: at },
  ]);
  const text = await m.render();
  t.match(text, /^ferry_messages_accepted_total 1$/m);
  t.match(text, /^ferry_recipients_final_total\{status="dropped",category="user_unknown"\} 1$/m);
  t.match(text, /^ferry_recipients_final_total\{status="delivered",category="none"\} 1$/m);
  t.match(text, /^ferry_recipients_final_total\{status="expired",category="temporary"\} 1$/m);
  t.notMatch(text, /status="deferred",category=/, 'deferred is not final');
  t.match(text, /^ferry_delivery_attempts_total\{destination="a\.test",result="delivered"\} 1$/m);
  t.match(text, /^ferry_delivery_attempts_total\{destination="b\.test",result="deferred"\} 1$/m);
  t.match(text, /^ferry_delivery_attempts_total\{destination="_other",result="bounced"\} 1$/m, 'a third domain goes to _other');
  t.match(text, /^ferry_delivery_latency_seconds_bucket\{le="15"\} 0$/m);
  t.match(text, /^ferry_delivery_latency_seconds_bucket\{le="60"\} 1$/m);
  t.match(text, /^ferry_throttled_destinations 0$/m);
  m.setThrottledDestinationsProvider(() => 7);
  t.match(await m.render(), /^ferry_throttled_destinations 7$/m);
});

t.test('refusal reasons come from the reply', async (t) => {
  const cases: [Parameters<typeof refusalReason>[0], number, string, string][] = [
    ['mail', 421, '4.3.2 Service shutting down, try again later', 'shutting_down'],
    ['mail', 452, '4.3.1 Insufficient system storage, try again later', 'disk_full'],
    ['mail', 530, '5.7.0 Authentication required', 'auth_required'],
    ['mail', 501, '5.1.7 Bad sender address syntax <x>', 'bad_address'],
    ['mail', 550, '5.7.1 Sender domain a.test is not allowed for user u', 'sender_not_allowed'],
    ['rcpt', 452, '4.5.3 Too many recipients (at most 2 per message)', 'too_many_recipients'],
    ['rcpt', 550, '5.7.1 <a@b.test>: recipient is on the suppression list (user_unknown, since 2026-01-01)', 'suppressed'],
    ['rcpt', 550, '5.7.1 Not here', 'recipient_policy'],
    ['mail', 451, '4.7.1 Message quota exceeded: user u may send at most 5 messages per hour; try again after 10:00Z', 'quota'],
    ['rcpt', 451, '4.7.1 Recipient quota exceeded: user u may send to at most 5 recipients per day', 'quota'],
    ['rcpt', 451, '4.3.0 Temporary local problem, try again later', 'local_error'],
    ['data', 552, '5.3.4 Message too big for system (limit 10 bytes)', 'too_large'],
    ['data', 552, '5.3.4 Message header too large', 'header_too_large'],
    ['data', 550, '5.7.1 yahoo.com publishes a DMARC policy (p=reject) ...', 'dmarc'],
    ['data', 550, '5.7.1 From header domain x.test is not allowed for user u', 'from_not_allowed'],
    ['data', 554, 'something else', 'other'],
  ];
  for (const [phase, code, text, want] of cases) t.equal(refusalReason(phase, smtpError(code, text)), want, text);
});

// Finding 7b: /metrics labels carried every recipient domain (unbounded cardinality, and a
// list of customers' recipients for anyone who can scrape).
t.test('1,000 distinct destination domains: the busiest N are named, the rest are _other (scraped over HTTP)', async (t) => {
  const { createHttpEndpoint } = await import('../../src/http/server.js');
  const { silentLogger } = await import('../../src/core/logger.js');
  const { clock, m } = metrics(20);
  const at = clock.now();
  let total = 0;
  // A few busy providers, then 1,000 one-off domains, then the providers again.
  const busy = Array.from({ length: 5 }, (_, i) => `provider${i}.test`);
  for (const d of busy) for (let k = 0; k < 50; k++, total++) m.attempted([{ domain: d, status: 'delivered', category: null, acceptedAt: at }]);
  for (let i = 0; i < 1000; i++, total++) m.attempted([{ domain: `customer-${i}.test`, status: i % 3 ? 'delivered' : 'bounced', category: 'user_unknown', acceptedAt: at }]);
  for (let i = 0; i < 3000; i++, total++) m.attempted([{ domain: `late-${i}.test`, status: 'deferred', category: 'temporary', acceptedAt: at }]);
  const late = 'late-big.test';
  for (let k = 0; k < 40; k++, total++) m.attempted([{ domain: late, status: 'delivered', category: null, acceptedAt: at }]);

  const endpoint = createHttpEndpoint({ listen: '127.0.0.1:0', logger: silentLogger(), metrics: m, readiness: () => ({ ok: true, checks: [] }), about: () => ({}) });
  const address = await endpoint.start();
  t.teardown(() => endpoint.stop());
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const series = text.split('\n').filter((l) => l.startsWith('ferry_delivery_attempts_total{'));
  const labels = new Set(series.map((l) => /destination="([^"]*)"/.exec(l)![1]));
  t.ok(labels.size <= 21, `at most 20 domains plus _other: ${labels.size} labels, ${series.length} series`);
  t.ok(series.length <= 21 * 4, 'series bounded too');
  for (const d of busy) t.ok(labels.has(d), `${d} (busiest) is named`);
  t.ok(labels.has(late), 'a busy domain that arrived after thousands of one-offs is named');
  t.ok(labels.has('_other'));
  t.notOk(labels.has('customer-999.test'), 'a one-off recipient domain is not disclosed');
  const sum = series.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  t.equal(sum, total, 'every attempt is counted once');
});
