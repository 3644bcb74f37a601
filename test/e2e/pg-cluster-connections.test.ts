import pg from 'pg';
import t from 'tap';
import { runFerry } from '../helpers/cli.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { adminEnv, startNode, until, watch } from './fixtures/pg-nodes.js';

/**
 * Two `ferry start` nodes on one PostgreSQL database share a destination's connection limit
 * (issue 14): with 2 connections for example.test, one message per connection and a sink slow
 * to answer each message, the sink never sees more than 2 connections at once from the two
 * nodes together (each node counting its own would let 4 in), and all the mail arrives.
 */

t.test('a connection limit set with `ferry limits set` is the cluster\'s: two nodes open 2 at once, not 4', async (t) => {
  const { url } = await testPg();
  const mx = await startMx({ host: '127.0.0.2', tls: false, script: { dataDelayMs: 300 } });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const db = watch(t, url);

  const set = await runFerry(['limits', 'set', 'example.test', '--connections', '2', '--per-connection', '1'], { env: adminEnv(t, url) });
  t.equal(set.code, 0, `ferry limits set: ${set.stderr}`);

  const a = await startNode(t, { url, name: 'node-a', mx, dns });
  const b = await startNode(t, { url, name: 'node-b', mx, dns });
  const total = 24;
  await Promise.all(
    [a, b].map(async (node, n) => {
      const relay = { smtpPort: node.smtpPort } as StartedRelay;
      for (let i = 0; i < total / 2; i++) {
        const to = `n${n}-r${i}@example.test`;
        await send(relay, { from: 'app@ferry.test', to: [to], raw: Buffer.from(`From: app@ferry.test\r\nTo: ${to}\r\nSubject: ${i}\r\n\r\nhello\r\n`) });
      }
    }),
  );

  await until('every recipient delivered', async () => ((await db.counts())['delivered'] ?? 0) === total, 120_000);
  t.equal(mx.messages.length, total, 'the sink received every message');
  t.ok(mx.maxConcurrent <= 2, `at most 2 connections at once for the cluster (saw ${mx.maxConcurrent})`);
  t.ok(mx.maxConcurrent >= 1);
  for (const node of [a, b]) {
    node.proc.child.kill('SIGTERM');
    t.equal((await node.proc.exited).code, 0, `${node.name} stops cleanly ${node.proc.stderr()}`);
  }
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => pool.end());
  const left = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM connection_slots');
  t.equal(left.rows[0]?.n, 0, 'stopped nodes hold no connection slots');
});
