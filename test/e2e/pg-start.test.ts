import t, { type Test } from 'tap';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFerry, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';
import { testPg } from '../helpers/postgres.js';
import { tempDir, type StartedRelay } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';
import { defaultZone, send } from './fixtures/delivery.js';

/**
 * `ferry start` on the PostgreSQL store (issue 14), the real command in child processes: a
 * message sent over SMTP is delivered byte for byte from its chunk rows, and the CLI on the same
 * store.url sees it delivered; with two nodes on one database, mail that a node accepted and
 * then died holding (kill -9 in the middle of the transfer) is delivered by the other once the
 * dead node's lease runs out.
 */

interface Node {
  name: string;
  proc: RunningFerry;
  smtpPort: number;
  env: Record<string, string>;
  dataDir: string;
}

async function startNode(t: Test, o: { url: string; name: string; mx: TestMx; dns: TestDnsServer }): Promise<Node> {
  const dataDir = tempDir(t);
  // The test certificate where Ferry keeps its generated one: no RSA key generation in the child.
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
  const config = {
    hostname: 'ferry.test',
    log: { level: 'info' },
    dmarc: { mode: 'off' },
    sign: { threads: 0 },
    smtp: { listen: '127.0.0.1:0' },
    http: { listen: null },
    dns: { servers: [o.dns.address], timeoutMs: 500, tries: 1 },
    delivery: { allowPrivateMx: true, port: o.mx.port, dataTimeoutMs: 120_000, commandTimeoutMs: 60_000 },
    // The shortest lease the store allows: a dead node's mail waits 5 s for another.
    store: { nodeName: o.name, leaseMs: 5_000, heartbeatMs: 2_000 },
  };
  const file = join(dataDir, 'ferry.json');
  writeFileSync(file, JSON.stringify(config));
  const env = { FERRY_STORE_URL: o.url, FERRY_DATA_DIR: dataDir, FERRY_CONFIG: file, FERRY_HTTP_LISTEN: '' };
  const proc = await startFerryProcess(env);
  t.teardown(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  });
  const started = JSON.parse(proc.lines.find((l) => l.includes('"msg":"ferry started"'))!) as { smtp: string; store?: string; node?: string };
  t.equal(started.store, 'postgres', `${o.name} runs on the PostgreSQL store`);
  t.equal(started.node, o.name, `${o.name} says its node name`);
  return { name: o.name, proc, smtpPort: Number(started.smtp.slice(started.smtp.lastIndexOf(':') + 1)), env, dataDir };
}

/** A direct connection to the database, to watch what the nodes do (as an operator's psql would). */
function watch(t: Test, url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => pool.end());
  return {
    recipients: async (id: string) =>
      (await pool.query<{ address: string; status: string; lease_owner: string | null }>('SELECT address, status, lease_owner FROM recipients WHERE message_id = $1 ORDER BY id', [id])).rows,
  };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A message of about `bytes` (CRLF lines of base64): larger than one 256 KB chunk and than spool.inlineMaxBytes. */
function bigMessage(subject: string, bytes: number): Buffer {
  const lines = Array.from({ length: Math.ceil(bytes / 74) }, () => randomBytes(54).toString('base64'));
  return Buffer.from(`From: app@ferry.test\r\nTo: rcpt@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@ferry.test>\r\n\r\n${lines.join('\r\n')}\r\n`);
}

interface Shown {
  message: { id: string; size: number };
  recipients: { address: string; status: string }[];
}

async function shown(node: Node, id: string): Promise<Shown> {
  const r = await runFerry(['messages', 'show', id, '--json'], { env: node.env });
  if (r.code !== 0) throw new Error(`ferry messages show ${id}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Shown;
}

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
