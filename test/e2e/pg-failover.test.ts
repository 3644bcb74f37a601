import t from 'tap';
import { runFerry } from '../helpers/cli.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { bigMessage, shown, startNode, until, watch } from './fixtures/pg-nodes.js';

/**
 * Two `ferry start` nodes on one PostgreSQL database (issue 14): mail that node A accepted and
 * then died holding (kill -9 in the middle of the transfer) is delivered by node B once A's lease
 * runs out, once, byte for byte; `ferry nodes` shows A silent and B alive.
 */

t.test('two nodes on one database: node A dies (kill -9) in the middle of a transfer, node B delivers the message once A\'s lease runs out', async (t) => {
  const { url } = await testPg();
  // The sink reads the whole message and never answers the final dot, until told otherwise.
  const mx = await startMx({ host: '127.0.0.2', raw: true, script: { dataFault: 'stall' } });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const db = watch(t, url);
  const a = await startNode(t, { url, name: 'node-a', mx, dns });

  const msg = bigMessage('failover', 600_000);
  const id = await send({ smtpPort: a.smtpPort } as StartedRelay, { from: 'app@ferry.test', to: ['nina@example.test'], raw: msg });
  // A claimed it (its lease) and holds the transfer open with the sink.
  await until('node A to hold the recipient and the sink to see the transfer', async () => mx.connections > 0 && (await db.recipients(id))[0]?.lease_owner === 'node-a');
  a.proc.child.kill('SIGKILL');
  t.equal((await a.proc.exited).signal, 'SIGKILL', 'node A was killed, no shutdown ran');
  t.equal(mx.messages.length, 0, 'nothing was accepted by the sink before A died');
  t.same((await db.recipients(id)).map((r) => [r.status, r.lease_owner]), [['queued', 'node-a']], 'the dead node still holds the lease');

  mx.setScript({ dataFault: null });
  const b = await startNode(t, { url, name: 'node-b', mx, dns });
  await mx.waitForMessages(1, 60_000);
  const got = mx.messages[0]!;
  t.same(got.envelope.to, ['nina@example.test']);
  t.ok(got.raw.subarray(got.raw.length - msg.length).equals(msg), 'B delivered the message A accepted, byte for byte');
  await until('the recipient delivered in the store', async () => (await db.recipients(id)).every((r) => r.status === 'delivered'));
  const s = await shown(b, id);
  t.same(s.recipients.map((r) => [r.address, r.status]), [['nina@example.test', 'delivered']], 'ferry messages show (on the same store.url): delivered');
  t.equal(mx.messages.length, 1, 'delivered once');

  // A stops beating at its death: silent after three missed heartbeats (never "stopped": no shutdown ran).
  const nodes = await until('ferry nodes to show A silent', async () => {
    const list = JSON.parse((await runFerry(['nodes', '--json'], { env: b.env })).stdout) as { name: string; state: string; leasesHeld: number }[];
    return list.find((n) => n.name === 'node-a')?.state === 'alive' ? null : list;
  });
  t.same(
    nodes.map((n) => [n.name, n.state, n.leasesHeld]),
    [
      ['node-a', 'silent', 0],
      ['node-b', 'alive', 0],
    ],
    'ferry nodes: A silent since its death (holding nothing now), B alive',
  );
  b.proc.child.kill('SIGTERM');
  t.equal((await b.proc.exited).code, 0, `B stops cleanly ${b.proc.stderr()}`);
});
