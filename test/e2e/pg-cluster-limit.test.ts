import t from 'tap';
import { runFerry } from '../helpers/cli.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { adminEnv, startNode, until, watch } from './fixtures/pg-nodes.js';

/**
 * Two `ferry start` nodes on one PostgreSQL database share a destination's rate budget (issue
 * 14): with 20 per hour for example.test and 30 messages sent to each node, the two together
 * deliver 20, not 20 each, and hold the rest for the budget. An hour's window keeps the test
 * free of timing: nothing comes back during it. (The achieved rate of a per-minute limit under
 * load is measured by bench/cluster-limit.mjs.)
 */

t.test('a per-hour limit set with `ferry limits set` is the cluster\'s: two nodes deliver 20 of 60, not 40', async (t) => {
  const { url } = await testPg();
  const mx = await startMx({ host: '127.0.0.2' });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const db = watch(t, url);

  // Set before any node starts, so that no node ever sends under no limit.
  const set = await runFerry(['limits', 'set', 'example.test', '--per-hour', '20'], { env: adminEnv(t, url) });
  t.equal(set.code, 0, `ferry limits set: ${set.stderr}`);

  const a = await startNode(t, { url, name: 'node-a', mx, dns });
  const b = await startNode(t, { url, name: 'node-b', mx, dns });
  const total = 60;
  const sends: Promise<string>[] = [];
  for (const [n, node] of [a, b].entries()) {
    const relay = { smtpPort: node.smtpPort } as StartedRelay;
    sends.push(
      (async () => {
        for (let i = 0; i < total / 2; i++) {
          const to = `n${n}-r${i}@example.test`;
          await send(relay, { from: 'app@ferry.test', to: [to], raw: Buffer.from(`From: app@ferry.test\r\nTo: ${to}\r\nSubject: ${i}\r\n\r\nhello\r\n`) });
        }
        return node.name;
      })(),
    );
  }
  await Promise.all(sends);

  // Every recipient is either delivered or handed back to wait for the budget (not leased).
  const counts = await until('every recipient delivered or held for the budget', async () => {
    const c = await db.counts();
    return (c['delivered'] ?? 0) + (c['held'] ?? 0) === total ? c : null;
  });
  t.same(counts, { delivered: 20, held: 40 }, 'the cluster delivered its 20 and holds 40 (per-node budgets: 40 and 20)');
  t.equal(mx.messages.length, 20, 'the sink received 20');
  for (const node of [a, b]) {
    node.proc.child.kill('SIGTERM');
    t.equal((await node.proc.exited).code, 0, `${node.name} stops cleanly ${node.proc.stderr()}`);
  }
});
