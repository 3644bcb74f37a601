import t from 'tap';
import pg from 'pg';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { startNode, until, type Node } from './fixtures/pg-nodes.js';

/**
 * Webhooks from a cluster (issue 14): two `ferry start` nodes on one PostgreSQL, each with the
 * same webhook URL. Exactly one sends at a time — the one holding the advisory lock — whichever
 * node recorded the events; when it dies (kill -9), the other takes over from the shared cursor
 * and every event reaches the receiver. Each POST's User-Agent names the node that sent it.
 */

const SECRET = 'e2e-cluster-webhook-secret-0123';

t.test('two nodes, one webhook sender: the lock holder sends every event, and the other takes over when it is killed', async (t) => {
  const { url } = await testPg();
  const receiver = await startWebhookReceiver(t, SECRET);
  const mx = await startMx({ host: '127.0.0.2' });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const db = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => db.end());
  const extra = { webhooks: { urls: [receiver.url], secret: SECRET, batchSize: 2, timeoutMs: 2_000, pollIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 200 } };
  const nodes: Node[] = [];
  for (const name of ['node-a', 'node-b']) nodes.push(await startNode(t, { url, name, mx, dns, extra }));

  const sender = (ua: string | undefined) => /\(node (node-[ab])\)$/.exec(ua ?? '')?.[1] ?? `unknown (${ua})`;
  const eventIds = async () => (await db.query<{ id: string }>('SELECT id FROM events ORDER BY id')).rows.map((r) => Number(r.id));
  const acknowledged = () => new Set(receiver.acknowledged().map((e) => Number(e.id)));
  /** Mail through both nodes; waits until every event recorded so far is acknowledged by the receiver. */
  async function traffic(to: Node[], n: number, tag: string): Promise<void> {
    for (let i = 0; i < n; i++) {
      const node = to[i % to.length]!;
      await send({ smtpPort: node.smtpPort } as StartedRelay, { from: 'app@ferry.test', to: [`${tag}${i}@example.test`] });
    }
    await until(`${tag}: every message delivered and every event acknowledged`, async () => {
      const ids = await eventIds();
      const got = acknowledged();
      return mx.messages.filter((m) => m.envelope.to.some((r) => r.startsWith(tag))).length === n && ids.length > 0 && ids.every((id) => got.has(id));
    }, 120_000);
  }

  await traffic(nodes, 6, 'before');
  const leaderName = sender(receiver.posts[0]!.headers['user-agent'] as string | undefined);
  t.ok(['node-a', 'node-b'].includes(leaderName), `the first POST names its node (${leaderName})`);
  t.same([...new Set(receiver.posts.map((p) => sender(p.headers['user-agent'] as string | undefined)))], [leaderName], 'every POST came from that one node, though both nodes recorded events');
  const holder = await db.query<{ app: string }>(
    "SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%webhook sender'",
  );
  t.same(holder.rows.map((r) => r.app), [`ferry ${leaderName} webhook sender`], "the one advisory lock is held by the sender's own session");
  const leader = nodes.find((n) => n.name === leaderName)!;
  const other = nodes.find((n) => n.name !== leaderName)!;
  const postsBefore = receiver.posts.length;
  const ackedBefore = receiver.acknowledged().length;

  leader.proc.child.kill('SIGKILL');
  t.equal((await leader.proc.exited).signal, 'SIGKILL', 'the sender was killed, no shutdown ran');
  await traffic([other], 4, 'after');
  const later = receiver.posts.slice(postsBefore);
  t.ok(later.length > 0, 'POSTs after the kill');
  t.same([...new Set(later.map((p) => sender(p.headers['user-agent'] as string | undefined)))], [other.name], 'after the kill every POST came from the other node');
  const ids = await eventIds();
  const all = receiver.acknowledged().map((e) => Number(e.id));
  t.same([...new Set(all)].sort((x, y) => x - y), ids, 'every event of the log reached the receiver');
  // At least once: a batch the sender posted but had not recorded as sent when it died is sent again.
  t.ok(all.length - new Set(all).size <= 2, `at most one batch sent twice (${all.length - new Set(all).size} events)`);
  // The log's delivery order is (transaction, id), not id alone: a younger transaction can hold a
  // lower event id than an older one (postgres/events.ts, settledAfter).
  const sentAfter = receiver.acknowledged().slice(ackedBefore).map((e) => Number(e.id));
  const txidOf = new Map(
    (await db.query<{ id: string; txid: string }>('SELECT id, txid::text AS txid FROM events WHERE id = ANY($1::bigint[])', [sentAfter])).rows.map((r) => [Number(r.id), BigInt(r.txid)]),
  );
  const byPosition = (x: number, y: number): number => {
    const a = txidOf.get(x)!;
    const b = txidOf.get(y)!;
    return a === b ? x - y : a < b ? -1 : 1;
  };
  t.same(sentAfter, [...sentAfter].sort(byPosition), 'the new sender went on from the shared cursor in the log\'s order (transaction, then id)');
  const lock = await db.query<{ app: string }>(
    "SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%webhook sender'",
  );
  t.same(lock.rows.map((r) => r.app), [`ferry ${other.name} webhook sender`], 'the lock moved to the survivor');
  other.proc.child.kill('SIGTERM');
  t.equal((await other.proc.exited).code, 0, `the survivor stops cleanly ${other.proc.stderr()}`);
});
