// Two Ferry nodes (`bin/ferry start`, real processes) on one PostgreSQL: N messages sent over
// SMTP, half to each node; node A is killed with SIGKILL mid-load. Every message that got a 250
// from either node must reach the sink (lost must be 0); duplicates are counted (A may have
// handed a message to the sink and died before recording it). A's leased mail is delivered by B
// once the lease (store.leaseMs) runs out. Prints figures; asserts nothing about time.
//
// At the kill the script reads from PostgreSQL which recipients A held under a lease (its mail in
// flight or waiting for a connection): how long after the kill the last of them reached the sink
// is printed beside the lease time, and each duplicate is put in one of two classes: held by A at
// the kill (sent by A, not recorded before it died: the only duplicates renewal cannot prevent),
// or other (a lease that ran out under a live node: what renewal prevents).
//
//   npm run build && node bench/cluster-kill.mjs [N=4000] [LEASE_MS=10000]
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';

const N = Number(process.argv[2] ?? 4000);
const LEASE_MS = Number(process.argv[3] ?? 10_000);
const SENDERS_PER_NODE = 6;
// A's kill comes at a quarter of the load, or after this long at the latest.
const KILL_BY_MS = 150_000;
// After the load: how long acknowledged mail may take to reach the sink (A's leases included).
const SETTLE_MS = 180_000 + LEASE_MS;
const ROOT = fileURLToPath(new URL('../', import.meta.url));

// --- PostgreSQL, fsync on (a private server in a temporary directory) ---
const debian = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
const BIN = ['/usr/lib/postgresql/15/bin', ...debian, '/usr/local/bin', '/usr/bin'].find((d) => existsSync(join(d, 'initdb')));
if (!BIN) throw new Error('PostgreSQL binaries not found (apt-get install postgresql)');
const asPg = (bin, args) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args]);
const run = (bin, args) => execFileSync(...asPg(bin, args), { stdio: 'pipe' });
const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });

const pgPort = await freePort();
const pgDir = mkdtempSync(join(tmpdir(), 'ferry-cluster-'));
if (process.getuid() === 0) chownSync(pgDir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
const data = join(pgDir, 'data');
run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
run('pg_ctl', ['start', '-w', '-D', data, '-l', join(pgDir, 'log'), '-o', `-p ${pgPort} -h 127.0.0.1 -k ${pgDir} -c fsync=on -c synchronous_commit=on`]);
const url = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
const work = mkdtempSync(join(tmpdir(), 'ferry-cluster-nodes-'));
const cleanup = () => {
  try { run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']); } catch { /* already down */ }
  rmSync(pgDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
};

// --- the sink: one SMTP server; each message carries X-Bench-Id ---
const delivered = new Map();
const deliveredBy = new Map();
let deliveries = 0;
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, cb) {
    const parts = [];
    stream.on('data', (c) => parts.push(c));
    stream.on('end', () => {
      const m = /^X-Bench-Id: (\S+)/m.exec(Buffer.concat(parts).subarray(0, 4096).toString('latin1'));
      deliveries++;
      // Which node sent it: each node says its own name in EHLO.
      const by = /^ferry-(\w+)\.bench$/.exec(session.hostNameAppearsAs ?? '')?.[1] ?? '?';
      if (m) delivered.set(m[1], [...(delivered.get(m[1]) ?? []), performance.now()]);
      if (m) deliveredBy.set(m[1], [...(deliveredBy.get(m[1]) ?? []), by]);
      cb();
    });
  },
});
// A node killed mid-transfer resets its connections: counted, not fatal.
let sinkErrors = 0;
sink.on('error', () => sinkErrors++);
const sinkPort = await new Promise((r) => sink.listen(0, '127.0.0.1', () => r(sink.server.address().port)));

// --- two nodes ---
function startNode(name) {
  const dataDir = join(work, name);
  mkdirSync(dataDir, { recursive: true });
  const config = {
    hostname: `ferry-${name}.bench`,
    log: { level: 'info' },
    dmarc: { mode: 'off' },
    sign: { threads: 0 },
    smtp: { listen: '127.0.0.1:0' },
    http: { listen: null },
    dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
    outboundTls: { mtaSts: { enabled: false } },
    routes: { '*': `127.0.0.1:${sinkPort}` },
    delivery: { allowPrivateMx: true },
    store: { nodeName: name, leaseMs: LEASE_MS, heartbeatMs: 1000 },
  };
  writeFileSync(join(dataDir, 'ferry.json'), JSON.stringify(config));
  const child = spawn(process.execPath, [join(ROOT, 'bin/ferry'), 'start'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_DEFAULT_CONFIG: '', FERRY_STORE_URL: url, FERRY_DATA_DIR: dataDir, FERRY_CONFIG: join(dataDir, 'ferry.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.includes('"msg":"ferry started"')) {
          const smtp = JSON.parse(line).smtp;
          child.stdout.off('data', onData);
          child.stdout.resume();
          resolve({ name, child, port: Number(smtp.slice(smtp.lastIndexOf(':') + 1)) });
        }
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`node ${name} exited while starting (${code ?? signal})`)));
  });
}

const children = [];
// Whatever happens, the nodes and the server go with this process.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  try { run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']); } catch { /* already down */ }
});
const [a, b] = await Promise.all([startNode('A'), startNode('B')]);
children.push(a.child, b.child);
const exitedA = new Promise((r) => a.child.once('exit', r));
const exitedB = new Promise((r) => b.child.once('exit', r));

// --- the load: N/2 messages to each node; a 250 is an acknowledgement ---
const acked = new Map();
const refused = { A: 0, B: 0 };
const t0 = performance.now();
let killedAt = null;
let ackedAWhenKilled = 0;
let heldByAAtKill = null;
/** The recipients A held under a lease when it died (their messages' bench ids: the Subject). */
async function readHeldByA() {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT m.subject, r.lease_until FROM recipients r JOIN messages m ON m.id = r.message_id
       WHERE r.lease_owner = 'A' AND r.status IN ('queued','deferred')`,
    );
    return r.rows.map((x) => ({ id: x.subject, leaseUntil: Number(x.lease_until) }));
  } finally {
    await c.end();
  }
}
async function load(node, prefix) {
  let next = 0;
  let dead = false;
  const one = async () => {
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: node.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity, connectionTimeout: 10_000, socketTimeout: 60_000 });
    while (!dead && next < N / 2) {
      const id = `${prefix}-${next++}`;
      const raw = `From: app@ferry.bench\r\nTo: r@dest.bench\r\nSubject: ${id}\r\nX-Bench-Id: ${id}\r\n\r\n${'Body line of a cluster benchmark message.\r\n'.repeat(20)}`;
      try {
        await tr.sendMail({ envelope: { from: 'app@ferry.bench', to: [`r${next % 50}@dest${next % 7}.bench`] }, raw });
        acked.set(id, node.name);
      } catch {
        refused[node.name]++;
        if (node.child.exitCode !== null || node.child.signalCode !== null) dead = true;
      }
    }
    tr.close();
  };
  await Promise.all(Array.from({ length: SENDERS_PER_NODE }, one));
}
const loading = [load(a, 'A'), load(b, 'B')];
// Kill A once it has acknowledged about half of its share.
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const n = [...acked.values()].filter((x) => x === 'A').length;
    if (n >= N / 4 || performance.now() - t0 > KILL_BY_MS) {
      clearInterval(timer);
      a.child.kill('SIGKILL');
      killedAt = performance.now();
      ackedAWhenKilled = n;
      resolve();
      heldByAAtKill = readHeldByA();
    }
  }, 5);
});
await exitedA;
await Promise.all(loading);
const loadDoneAt = performance.now();
const allDelivered = () => [...acked.keys()].every((id) => delivered.has(id));
while (!allDelivered() && performance.now() - loadDoneAt < SETTLE_MS) await new Promise((r) => setTimeout(r, 200));
const settledAt = performance.now();
b.child.kill('SIGTERM');
await exitedB;
sink.close();

const heldByA = await heldByAAtKill;
const heldIds = new Set(heldByA.map((x) => x.id));
const ackedIds = [...acked.keys()];
const lost = ackedIds.filter((id) => !delivered.has(id));
const aAfterKill = ackedIds.filter((id) => acked.get(id) === 'A').map((id) => Math.min(...(delivered.get(id) ?? [Infinity]))).filter((at) => at > killedAt);
const report = {
  N,
  leaseMs: LEASE_MS,
  ackedByAWhenKilled: ackedAWhenKilled,
  acked: ackedIds.length,
  ackedByA: ackedIds.filter((id) => acked.get(id) === 'A').length,
  ackedByB: ackedIds.filter((id) => acked.get(id) === 'B').length,
  refusedAfterKill: refused,
  deliveredUnique: delivered.size,
  deliveries,
  sinkConnectionErrors: sinkErrors,
  duplicates: [...delivered.values()].filter((v) => v.length > 1).length,
  // Accepted by A (its deliveries in flight at the kill, or leases run out) or by B (leases run out).
  duplicatesAcceptedBy: { A: [...delivered.entries()].filter(([id, v]) => v.length > 1 && id.startsWith('A-')).length, B: [...delivered.entries()].filter(([id, v]) => v.length > 1 && id.startsWith('B-')).length },
  // Acknowledged but not at the sink SETTLE_MS after the load ended: lost.
  lost: lost.length,
  lostSample: lost.slice(0, 5),
  // Duplicates by class: held by A at the kill (A sent and died before recording) or other.
  duplicatesHeldByAAtKill: [...delivered.entries()].filter(([id, v]) => v.length > 1 && heldIds.has(id)).length,
  duplicatesOther: [...delivered.entries()].filter(([id, v]) => v.length > 1 && !heldIds.has(id)).length,
  duplicatesSentBy: countBy([...deliveredBy.entries()].filter(([, v]) => v.length > 1).map(([, v]) => v.join('+'))),
  deliveriesBy: countBy([...deliveredBy.values()].flat()),
  aMessagesDeliveredAfterKill: aAfterKill.length,
  lastAMessageAfterKillMs: aAfterKill.length ? Math.round(Math.max(...aAfterKill) - killedAt) : null,
  // A's leased recipients at the kill: how many, and when the last of them reached the sink after it (vs leaseMs).
  heldByAAtKill: heldByA.length,
  heldByADeliveredAfterKill: heldByA.filter((x) => (delivered.get(x.id) ?? []).some((at) => at > killedAt)).length,
  heldByANotDelivered: heldByA.filter((x) => !delivered.has(x.id)).length,
  // Each of them against its own lease (renewed up to a third of a lease before the kill): the
  // latest first delivery after the kill, minus that recipient's lease end (epoch ms).
  heldByALatestAfterItsLeaseEndMs: (() => {
    const late = heldByA.flatMap((x) => (delivered.get(x.id) ?? []).filter((at) => at > killedAt).slice(0, 1).map((at) => performance.timeOrigin + at - x.leaseUntil));
    return late.length ? Math.round(Math.max(...late)) : null;
  })(),
  lastHeldByADeliveredAfterKillMs: (() => {
    const after = heldByA.flatMap((x) => (delivered.get(x.id) ?? []).filter((at) => at > killedAt));
    return after.length ? Math.round(Math.max(...after) - killedAt) : null;
  })(),
  loadSeconds: Number(((loadDoneAt - t0) / 1000).toFixed(1)),
  allDeliveredSeconds: Number(((settledAt - t0) / 1000).toFixed(1)),
  loadavg: loadavg().map((x) => x.toFixed(1)),
};
cleanup();
console.log(JSON.stringify(report, null, 2));
function countBy(list) {
  const out = {};
  for (const x of list) out[x] = (out[x] ?? 0) + 1;
  return out;
}
process.exit(lost.length ? 1 : 0);
