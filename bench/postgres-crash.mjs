// Crash proof for the PostgreSQL engine with two nodes in two processes, at the store level:
// both nodes accept half of N messages (a message counts as "250" when its accept resolved:
// committed) and deliver what they claim to one sink (a TCP server here) before recording the
// fate; node A is killed with SIGKILL mid-load. Every message acknowledged by either node must
// reach the sink (0 lost; duplicates counted: A may have sent a message and died before
// recording it), A's leased mail delivered by B once the lease runs out.
//
//   npm run build && node bench/postgres-crash.mjs [N=4000] [LEASE_MS=5000]
//
// What this does not cover: SMTP intake and real delivery (the pipeline is not yet wired to the
// engine, see README "Many nodes on PostgreSQL"); it exercises the commits, claims, leases and
// fates that a cluster's durability rests on, across real processes and a real kill -9.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);

if (process.argv[2] === '--node') {
  // Worker: one Ferry node's store work.
  const [, , , name, url, count, leaseMs, sinkPort] = process.argv;
  const { openPostgresStore } = await import(new URL('store/postgres/engine.js', dist).href);
  const { changeRecipientStatus } = await import(new URL('store/postgres/recipients.js', dist).href);
  const { appendEvent } = await import(new URL('store/postgres/events.js', dist).href);
  const { inTransaction } = await import(new URL('store/postgres/pool.js', dist).href);
  const s = await openPostgresStore({ url, poolSize: 6, nodeName: name, version: 'crash', heartbeatMs: 1000, now: Date.now });
  const sink = connect(Number(sinkPort), '127.0.0.1');
  await new Promise((r) => sink.once('connect', r));
  const body = Buffer.alloc(4000, 'x');
  let next = 0;
  const intake = Array.from({ length: 10 }, async () => {
    while (next < Number(count)) {
      const id = `${name}-${next++}`;
      await s.queue.accept([{
        message: { id, createdAt: Date.now(), sender: 'a@s.test', username: null, clientIp: null, helo: null, tls: null, size: 4060,
          headers: Buffer.alloc(60, 'h'), body, spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
        recipients: [{ address: `r@${id}.test`, domain: `${id}.test`, status: 'queued', reason: null, category: null }],
      }]);
      process.stdout.write(`ACK ${id}\n`);
    }
  });
  let stop = false;
  const deliver = Array.from({ length: 3 }, async () => {
    while (!stop) {
      const got = await s.recipients.claim(Date.now(), Date.now() + Number(leaseMs), name, 10);
      if (!got.length) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      for (const r of got) {
        await new Promise((res) => sink.write(`DELIVERED ${r.messageId} ${name}\n`, res));
        await inTransaction(s.pool, async (c) => {
          await changeRecipientStatus(c, r.id, { status: 'delivered', at: Date.now(), nextAttemptAt: null, attempted: true, code: 250 });
          await appendEvent(c, { at: Date.now(), messageId: r.messageId, recipientId: r.id, recipient: r.address, type: 'delivered', status: 'delivered', category: null, detail: null });
        });
      }
    }
  });
  await Promise.all(intake);
  process.stdout.write('INTAKE-DONE\n');
  process.stdin.on('data', () => {
    stop = true;
  });
  await Promise.all(deliver);
  sink.end();
  await s.close();
  process.exit(0);
}

const N = Number(process.argv[2] ?? 4000);
const LEASE_MS = Number(process.argv[3] ?? 5000);
const DEADLINE_MS = 110_000;
const debian = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
const BIN = ['/usr/lib/postgresql/15/bin', ...debian, '/usr/local/bin', '/usr/bin'].find((d) => existsSync(join(d, 'initdb')));
if (!BIN) throw new Error('PostgreSQL binaries not found (apt-get install postgresql)');
const asPg = (bin, args) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args]);
const run = (bin, args) => execFileSync(...asPg(bin, args), { stdio: 'pipe' });
const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'ferry-pgcrash-'));
if (process.getuid() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
const data = join(dir, 'data');
run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
run('pg_ctl', ['start', '-w', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=on -c synchronous_commit=on`]);
const stopPg = () => { try { run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']); } catch { /* */ } rmSync(dir, { recursive: true, force: true }); };
const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

const delivered = new Map();
let deliveries = 0;
const sink = createServer((sock) => {
  let buf = '';
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [, id, by] = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      deliveries++;
      delivered.set(id, [...(delivered.get(id) ?? []), { by, at: performance.now() }]);
    }
  });
  sock.on('error', () => undefined);
});
const sinkPort = await new Promise((r) => sink.listen(0, '127.0.0.1', () => r(sink.address().port)));

// Migrate once before the race (both would take turns under the advisory lock anyway).
const { openPostgresStore } = await import(new URL('store/postgres/engine.js', dist).href);
const pre = await openPostgresStore({ url, poolSize: 1, nodeName: 'setup', version: 'crash', heartbeatMs: 1000, now: Date.now, asNode: false });
const leasedBy = async (owner) =>
  (await pre.pool.query("SELECT message_id, lease_until FROM recipients WHERE lease_owner = $1 AND status IN ('queued','deferred')", [owner])).rows;

const acked = new Map();
const t0 = performance.now();
let killedAt = null;
function startNode(name) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--node', name, url, String(N / 2), String(LEASE_MS), String(sinkPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('ACK ')) acked.set(line.slice(4), name);
      if (line === 'INTAKE-DONE') child.emit('intake-done');
    }
  });
  return child;
}
const a = startNode('A');
const b = startNode('B');
const report = { N, leaseMs: LEASE_MS, loadavgBefore: loadavg().map((x) => x.toFixed(1)) };
// Kill A once it has acknowledged about half of its share.
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const ackedA = [...acked.values()].filter((n) => n === 'A').length;
    if (ackedA >= N / 4 || performance.now() - t0 > DEADLINE_MS / 2) {
      clearInterval(timer);
      a.kill('SIGKILL');
      killedAt = performance.now();
      resolve();
    }
  }, 5);
});
report.ackedByAWhenKilled = [...acked.values()].filter((n) => n === 'A').length;
const killedWall = Date.now();
const leasedByA = await leasedBy('A');
await new Promise((r) => a.once('exit', r));
// After the kill no more ACKs from A can arrive; wait for B's intake and for every acked message at the sink.
await new Promise((r) => b.once('intake-done', r));
const allDelivered = () => [...acked.keys()].every((id) => delivered.has(id));
while (!allDelivered() && performance.now() - t0 < DEADLINE_MS) await new Promise((r) => setTimeout(r, 100));
b.stdin.write('stop\n');
await new Promise((r) => b.once('exit', r));
sink.close();

const ackedIds = [...acked.keys()];
const lost = ackedIds.filter((id) => !delivered.has(id));
const dups = [...delivered.values()].filter((v) => v.length > 1).length;
const aDeliveredByB = [...delivered.entries()].filter(([id, v]) => id.startsWith('A-') && v.some((x) => x.by === 'B') && v.every((x) => x.at > killedAt));
const lastAByB = Math.max(0, ...aDeliveredByB.map(([, v]) => Math.max(...v.map((x) => x.at))));
Object.assign(report, {
  acked: ackedIds.length,
  ackedByA: ackedIds.filter((id) => acked.get(id) === 'A').length,
  ackedByB: ackedIds.filter((id) => acked.get(id) === 'B').length,
  deliveredUnique: delivered.size,
  deliveries,
  duplicates: dups,
  lost: lost.length,
  lostSample: lost.slice(0, 5),
  aMessagesDeliveredByBAfterKill: aDeliveredByB.length,
  lastOfThoseAfterKillMs: Math.round(lastAByB - killedAt),
  totalSeconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
  loadavgAfter: loadavg().map((x) => x.toFixed(1)),
});
// A's in-flight mail at the kill: when B delivered each, measured from the kill (lease: LEASE_MS).
const leasedLatency = leasedByA.map((r) => Math.min(...(delivered.get(r.message_id) ?? [{ at: Infinity }]).filter((x) => x.by === 'B').map((x) => x.at)) - killedAt);
report.leasedByAAtKill = leasedByA.length;
report.leasedByADeliveredByB = leasedLatency.filter(Number.isFinite).length;
report.leasedByADeliveredAfterKillMs = leasedLatency.length
  ? { first: Math.round(Math.min(...leasedLatency)), last: Math.round(Math.max(...leasedLatency)), leaseRemainingAtKillMs: Math.max(...leasedByA.map((r) => r.lease_until)) - killedWall }
  : null;
await pre.close();
stopPg();
console.log(JSON.stringify(report, null, 2));
process.exit(lost.length ? 1 : 0);
