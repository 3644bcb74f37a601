import t from 'tap';
import { startFaultMx, type FaultMx } from './fixtures/fault-mx.js';
import { proveDeferredAndIsolated, startFaultRelay, waitUntil } from './fixtures/harness.js';

const junk = Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 0x0d, 0x0a]);

// Replies that are not SMTP: binary junk, text without a code, a code out of range, and lines
// far longer than RFC 5321's 512 octets (one never ends, one ends after 200 KB).
t.test('an MX that sends garbage and over-long lines: deferred, retried, never delivered', async (t) => {
  const servers: Record<string, FaultMx> = {
    'junk-greeting.test': await startFaultMx({ greeting: { kind: 'bytes', bytes: junk, then: 'continue' } }),
    'text-greeting.test': await startFaultMx({ greeting: { kind: 'bytes', bytes: 'HELLO THERE, WHO ARE YOU\r\n', then: 'continue' } }),
    'long-greeting.test': await startFaultMx({ greeting: { kind: 'bytes', bytes: `220 ${'x'.repeat(200_000)}`, then: 'stall' } }),
    'junk-ehlo.test': await startFaultMx({ ehlo: { kind: 'bytes', bytes: Buffer.concat([junk, junk]), then: 'continue' } }),
    // the dot is refused too, so that any 2xx to a final dot would be a fault of this test
    'junk-rcpt.test': await startFaultMx({ rcpt: { kind: 'bytes', bytes: junk, then: 'continue' }, dot: { kind: 'reply', lines: ['451 4.3.0 no'] } }),
    'code-999-dot.test': await startFaultMx({ dot: { kind: 'bytes', bytes: '999 9.9.9 what\r\n', then: 'continue' } }),
    'long-dot.test': await startFaultMx({ dot: { kind: 'bytes', bytes: `451 ${'z'.repeat(200_000)}\r\n`, then: 'continue' } }),
  };
  for (const mx of Object.values(servers)) t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, Object.fromEntries(Object.entries(servers).map(([d, mx]) => [d, mx.route])));
  await proveDeferredAndIsolated(t, relay, servers, { timeoutMs: 20_000 });
});

// A 200 KB line inside an otherwise valid EHLO reply is tolerated: the session goes on and the
// 2xx to the final dot makes the recipient delivered (once).
t.test('an over-long EHLO line is survived and the message delivered', async (t) => {
  const mx = await startFaultMx({ ehlo: { kind: 'bytes', bytes: `250-${'y'.repeat(200_000)}\r\n250 OK\r\n`, then: 'continue' } });
  t.teardown(() => mx.close());
  const relay = await startFaultRelay(t, { 'long-ehlo.test': mx.route });
  const id = await relay.send(['user@long-ehlo.test']);
  await waitUntil(() => relay.recipients(id)[0]?.status === 'delivered', 5000, () => JSON.stringify(relay.recipients(id)));
  t.equal(mx.dotAccepted, 1, 'exactly one 2xx to a final dot');
});
