import t from 'tap';
import { request } from 'node:http';
import { isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

/** GET on the relay's HTTP endpoint. */
function get(address: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

/** The value of one sample line, or undefined. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

t.test('metrics reflect a delivered, a deferred and a bounced recipient', async (t) => {
  const { ferry, relay } = await setupDelivery(t, {
    mx: {
      tls: false,
      script: {
        rcpt: (a) =>
          a.startsWith('later@')
            ? { code: 451, message: '4.2.0 Mailbox busy, try again later' }
            : a.startsWith('nobody@')
              ? { code: 550, message: '5.1.1 No such user here' }
              : null,
      },
    },
    config: { http: { listen: '127.0.0.1:0' } },
  });
  const http = ferry.addresses!.http!;
  t.match(http, /^127\.0\.0\.1:\d+$/, 'the endpoint is bound on loopback');

  const before = await get(http, '/metrics');
  t.equal(before.status, 200);
  t.match(before.type, /^text\/plain/);
  t.equal(sample(before.body, 'ferry_messages_accepted_total'), 0);
  t.equal(sample(before.body, 'ferry_queue_oldest_age_seconds'), 0, 'empty queue: age 0');

  // a null sender: no DSN about the bounce joins the queue
  const id = await send(relay, { from: '', to: ['alice@example.test', 'later@example.test', 'nobody@example.test'] });
  const rows = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.same(rows.map((r) => r.status).sort(), ['bounced', 'deferred', 'delivered']);

  const m = (await get(http, '/metrics')).body;
  t.equal(sample(m, 'ferry_messages_accepted_total'), 1);
  t.equal(sample(m, 'ferry_recipients_final_total{status="delivered",category="none"}'), 1);
  t.equal(sample(m, 'ferry_recipients_final_total{status="bounced",category="user_unknown"}'), 1);
  t.equal(sample(m, 'ferry_recipients_final_total{status="deferred",category="temporary"}'), undefined, 'deferred is not final');
  t.equal(sample(m, 'ferry_delivery_attempts_total{destination="example.test",result="delivered"}'), 1);
  t.equal(sample(m, 'ferry_delivery_attempts_total{destination="example.test",result="deferred"}'), 1);
  t.equal(sample(m, 'ferry_delivery_attempts_total{destination="example.test",result="bounced"}'), 1);
  t.equal(sample(m, 'ferry_queue_recipients{status="deferred"}'), 1, 'queue depth read from the database');
  t.equal(sample(m, 'ferry_queue_recipients{status="queued"}'), 0);
  t.ok(sample(m, 'ferry_queue_oldest_age_seconds')! >= 0);
  t.equal(sample(m, 'ferry_delivery_latency_seconds_count'), 1, 'one accept → delivery observation');
  t.equal(sample(m, 'ferry_smtp_sessions_active') !== undefined, true);
  t.equal(sample(m, 'ferry_outbound_connections_active') !== undefined, true);
  t.equal(sample(m, 'ferry_throttled_destinations'), 0, 'no throttle provider: 0');
  t.equal(sample(m, 'ferry_disk_low'), 0);
  t.ok(sample(m, 'ferry_disk_free_bytes')! > 0);
  t.match(m, /ferry_info\{version="[^"]+"\} 1/);

  ferry.metrics.setThrottledDestinationsProvider(() => 3);
  t.equal(sample((await get(http, '/metrics')).body, 'ferry_throttled_destinations'), 3, 'the throttle feeds the gauge');
});

t.test('health endpoints answer with JSON; unknown paths and methods are refused', async (t) => {
  const { ferry } = await setupDelivery(t, { mx: { tls: false }, config: { http: { listen: '127.0.0.1:0' } } });
  const http = ferry.addresses!.http!;
  const health = await get(http, '/healthz');
  t.equal(health.status, 200);
  const h = JSON.parse(health.body);
  t.equal(h.ok, true);
  t.equal(h.pid, process.pid);
  t.equal(h.listeners.http, http);
  const ready = await get(http, '/readyz');
  t.equal(ready.status, 200);
  t.same(JSON.parse(ready.body).failing, []);
  t.same(JSON.parse(ready.body).checks.map((c: { name: string }) => c.name), ['database', 'disk', 'listeners', 'integrity']);
  t.equal((await get(http, '/nope')).status, 404);
});
