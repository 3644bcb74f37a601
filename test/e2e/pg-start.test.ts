import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runFerry } from '../helpers/cli.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import type { StartedRelay } from '../helpers/relay.js';
import { defaultZone, send } from './fixtures/delivery.js';
import { bigMessage, shown, startNode, until, watch } from './fixtures/pg-nodes.js';

/**
 * `ferry start` on the PostgreSQL store (issue 14), the real command in a child process: messages
 * sent over SMTP are delivered byte for byte from their chunk rows, and the CLI on the same
 * store.url sees them delivered and the node in `ferry nodes`. (Two nodes and a kill -9:
 * pg-failover.test.ts.)
 */

t.test('one node on PostgreSQL: SMTP in, delivered byte for byte, `ferry messages show` says delivered, `ferry nodes` lists it', async (t) => {
  const { url } = await testPg();
  const mx = await startMx({ host: '127.0.0.2' });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const node = await startNode(t, { url, name: 'node-1', mx, dns });
  const db = watch(t, url);

  const big = bigMessage('big', 1_500_000);
  const small = Buffer.from('From: app@ferry.test\r\nTo: rcpt@example.test\r\nSubject: small\r\n\r\nhello\r\n.a dotted line\r\n');
  const relay = { smtpPort: node.smtpPort } as StartedRelay;
  const bigId = await send(relay, { from: 'app@ferry.test', to: ['big@example.test'], raw: big });
  const smallId = await send(relay, { from: 'app@ferry.test', to: ['small@example.test'], raw: small });
  t.same(readdirSync(join(node.dataDir, 'spool-staging')), [], 'no staging file is left once the bodies are committed');

  await mx.waitForMessages(2, 60_000);
  for (const [id, sent, rcpt] of [[bigId, big, 'big@example.test'], [smallId, small, 'small@example.test']] as const) {
    const got = mx.messages.find((m) => m.envelope.to.includes(rcpt));
    t.ok(got, `${rcpt}: the sink received the message`);
    if (!got) continue;
    t.equal(got.envelope.from, 'app@ferry.test');
    t.ok(got.raw.subarray(0, 9).equals(Buffer.from('Received:')), 'Ferry added its trace header first');
    t.ok(got.raw.subarray(got.raw.length - sent.length).equals(sent), `${rcpt}: the message arrived byte for byte (${sent.length} bytes)`);
    await until(`${id} delivered in the store`, async () => (await db.recipients(id)).every((r) => r.status === 'delivered'));
    const s = await shown(node, id);
    t.same(s.recipients.map((r) => [r.address, r.status]), [[rcpt, 'delivered']], `ferry messages show ${id}: delivered`);
  }

  const nodes = await runFerry(['nodes', '--json'], { env: node.env });
  t.equal(nodes.code, 0, nodes.stderr);
  t.same((JSON.parse(nodes.stdout) as { name: string; state: string }[]).map((n) => [n.name, n.state]), [['node-1', 'alive']], 'ferry nodes: the running node, alive');

  node.proc.child.kill('SIGTERM');
  const exit = await node.proc.exited;
  t.equal(exit.code, 0, `clean exit after SIGTERM ${node.proc.stderr()}`);
  t.ok(node.proc.lines.some((l) => l.includes('"msg":"ferry stopped"')), 'logged "ferry stopped"');
  const after = JSON.parse((await runFerry(['nodes', '--json'], { env: node.env })).stdout) as { name: string; state: string }[];
  t.same(after.map((n) => [n.name, n.state]), [['node-1', 'stopped']], 'ferry nodes: stopped after SIGTERM');
});

