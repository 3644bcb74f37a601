import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../helpers/cli.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { shown, startNode, until, type Node } from './fixtures/pg-nodes.js';

/**
 * deploy/compose.yaml's topology on loopback, without Docker or haproxy (neither is installed
 * here): two `ferry start` nodes on one PostgreSQL behind ONE submission address. The address
 * is a small TCP proxy that reads deploy/haproxy.cfg's backend (its `server` lines and
 * `balance leastconn`) and passes each connection to the named node, as haproxy would in TCP
 * mode. Messages sent to that one address are spread over both nodes and all delivered; each
 * node's CLI finds the messages the other accepted. (The compose file's static wiring:
 * ops-compose-files.test.ts.)
 */

interface Backend {
  name: string;
  target: string;
  active: number;
  connections: number;
}

/** deploy/haproxy.cfg's backend: its servers and balance algorithm. */
function haproxyBackend(): { balance: string; servers: { name: string; target: string }[] } {
  const lines = readFileSync(join(REPO_ROOT, 'deploy', 'haproxy.cfg'), 'utf8').split('\n').map((l) => l.trim());
  const from = lines.findIndex((l) => l.startsWith('backend '));
  const section = lines.slice(from + 1);
  const end = section.findIndex((l) => /^(frontend|backend|defaults|global|listen)\b/.test(l));
  const body = end === -1 ? section : section.slice(0, end);
  return {
    balance: body.find((l) => l.startsWith('balance '))!.split(/\s+/)[1]!,
    servers: body.filter((l) => l.startsWith('server ')).map((l) => ({ name: l.split(/\s+/)[1]!, target: l.split(/\s+/)[2]! })),
  };
}

/** A TCP pass-through with haproxy's leastconn (ties in turn); `resolve` maps a server's host:port to a loopback port. */
async function tcpProxy(servers: { name: string; target: string }[], resolve: (target: string) => number) {
  const backends: Backend[] = servers.map((s) => ({ ...s, active: 0, connections: 0 }));
  let turn = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const least = Math.min(...backends.map((b) => b.active));
    const tied = backends.filter((b) => b.active === least);
    const b = tied[turn++ % tied.length]!;
    b.active++;
    b.connections++;
    const upstream = connect({ host: '127.0.0.1', port: resolve(b.target) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    upstream.once('close', () => {
      b.active--;
      client.destroy();
    });
    client.once('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    backends,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

t.test('two nodes behind one submission address (deploy/haproxy.cfg\'s backend): mail sent there is spread over both and all delivered', async (t) => {
  const backend = haproxyBackend();
  t.equal(backend.balance, 'leastconn');
  t.same(backend.servers.map((s) => s.name), ['ferry-a', 'ferry-b']);
  const { url } = await testPg();
  const mx = await startMx({ host: '127.0.0.2' });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  // The nodes are named as in the compose file (their hostnames there).
  const nodes = new Map<string, Node>();
  for (const s of backend.servers) nodes.set(s.name, await startNode(t, { url, name: s.name, mx, dns }));
  // On the compose network "ferry-a:2525" is that container; here, that node's loopback port.
  const proxy = await tcpProxy(backend.servers, (target) => nodes.get(target.split(':')[0]!)!.smtpPort);
  t.teardown(() => proxy.close());

  const total = 20;
  const ids: string[] = [];
  // Two clients at a time, each message on its own connection (as applications connect).
  for (let i = 0; i < total; i += 2) {
    ids.push(
      ...(await Promise.all(
        [i, i + 1].map((n) =>
          send({ smtpPort: proxy.port } as StartedRelay, { from: 'app@ferry.test', to: [`r${n}@example.test`], raw: Buffer.from(`From: app@ferry.test\r\nTo: r${n}@example.test\r\nSubject: ${n}\r\n\r\nhello\r\n`) }),
        ),
      )),
    );
  }
  t.same(proxy.backends.map((b) => [b.name, b.connections > 0]), [['ferry-a', true], ['ferry-b', true]], `both nodes took connections (${proxy.backends.map((b) => `${b.name} ${b.connections}`).join(', ')})`);
  await mx.waitForMessages(total, 60_000);
  t.equal(new Set(mx.messages.flatMap((m) => m.envelope.to)).size, total, 'every message delivered');

  const db = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => db.end());
  const by = (await db.query<{ id: string; accepted_by: string }>('SELECT id, accepted_by FROM messages')).rows;
  t.equal(by.length, total);
  t.same([...new Set(by.map((r) => r.accepted_by))].sort(), ['ferry-a', 'ferry-b'], 'both nodes accepted messages');
  // Each node's CLI (same store.url) finds a message the other accepted, delivered.
  for (const [name, node] of nodes) {
    const other = by.find((r) => r.accepted_by !== name)!;
    const s = await until(`${other.id} delivered`, async () => {
      const x = await shown(node, other.id);
      return x.recipients.every((r) => r.status === 'delivered') ? x : null;
    });
    t.equal(s.message.id, other.id, `ferry messages show on ${name} finds ${other.id}, accepted by ${other.accepted_by}, delivered`);
  }
  for (const node of nodes.values()) {
    node.proc.child.kill('SIGTERM');
    t.equal((await node.proc.exited).code, 0, `${node.name} stops cleanly ${node.proc.stderr()}`);
  }
});
