// The PostgreSQL engine through the Store interface (src/core/store.ts): commit rates of the
// transactions a cluster lives on, on a throwaway PostgreSQL 15 started here (fsync ON,
// synchronous_commit on: durable as shipped), with the server's own WAL flush count
// (pg_stat_wal.wal_sync) so grouping shows as flushes per message.
//
//   npm run build && node bench/pg-store.mjs [N=3000] [C=20]
//
// Phases (each bounded by BENCH_PHASE_MS, default 20 s):
// - accept, 1 at a time: one message per call, each awaited (the commit latency floor);
// - accept, C at once: one message per call, C concurrent intakes each awaiting its commit
//   (as SMTP sessions await their 250): the engine groups them (queue.accept group commit);
// - claim: 2 engine instances (nodes) × 2 workers, 10 recipients per claim, FOR UPDATE SKIP LOCKED;
// - fates, attempt outcomes: outcome/fate's real plans (delivered), C concurrent calls of 1 plan,
//   then of 10 plans (what outcome/fate groups in one event-loop turn); attempt-only calls commit
//   with synchronous_commit off (as SQLite relaxes their fsync);
// - fates, strict: expiry plans (synchronous commit), C concurrent calls of 1 plan.
// Root runs initdb/pg_ctl as the `postgres` user (as test/helpers/postgres.ts does).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const N = Number(process.argv[2] ?? 3000);
const C = Number(process.argv[3] ?? 20);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 20_000);
const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { openPostgresStore } = await imp('store/postgres/engine.js');
const { createFate } = await imp('outcome/fate.js');
const { createClassifier } = await imp('classify/classifier.js');
const { ManualClock } = await imp('core/clock.js');
const { seededRandom } = await imp('core/random.js');
const { silentLogger } = await imp('core/logger.js');

const debian = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
const BIN = ['/usr/lib/postgresql/15/bin', ...debian, '/usr/local/bin', '/usr/bin'].find((d) => existsSync(join(d, 'initdb')));
if (!BIN) throw new Error('PostgreSQL binaries not found (apt-get install postgresql)');
const asPg = (bin, args) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args]);
const run = (bin, args) => execFileSync(...asPg(bin, args), { stdio: 'pipe' });
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'ferry-pgstore-'));
if (process.getuid() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
const data = join(dir, 'data');
run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
run('pg_ctl', ['start', '-w', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB`]);
const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  try {
    run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stop);
const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

const T0 = Date.now();
const body = Buffer.alloc(4000, 'x');
const message = (id) => ({
  message: {
    id, createdAt: T0, sender: 'app@sender.test', username: null, clientIp: '127.0.0.1', helo: 'bench', tls: null,
    size: 60 + body.length, headers: Buffer.alloc(60, 'h'), body, spoolFile: null, headerFrom: 'app@sender.test',
    messageIdHeader: `<${id}@bench>`, subject: id, eightBit: false, smtputf8: false, kind: 'submission',
  },
  recipients: [{ address: `r${id}@d${id.length % 10}.test`, domain: `d${id.length % 10}.test`, status: 'queued', reason: null, category: null }],
});
const fate = createFate({
  recordFates: async () => [], classifier: createClassifier(), clock: new ManualClock(T0), random: seededRandom(1), logger: silentLogger(),
  retry: { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 72 }, dsn: { onDropped: true },
});
const ctx = { startedAt: T0, durationMs: 5, hop: { host: 'mx.bench', ip: '127.0.0.2', port: 25, tls: null }, hops: null };
const delivered = (r) => ({ origin: 'attempt', recipient: r, facts: { fact: { kind: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: '250 2.0.0 ok' } }, firstQueuedAt: T0, ctx } });
const expired = (r) => ({ origin: 'expiry', recipient: r, facts: { reason: 'too old' } });

/** Runs fn(i) for i < n with c workers, each awaiting its call, for at most PHASE_MS. */
async function concurrently(n, c, fn) {
  let next = 0;
  const t0 = performance.now();
  const lat = [];
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n && performance.now() - t0 < PHASE_MS) {
      const i = next++;
      const s = performance.now();
      await fn(i);
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { calls: lat.length, secs, callsPerSec: lat.length / secs, p50ms: lat[Math.floor(lat.length / 2)], p99ms: lat[Math.floor(lat.length * 0.99)] };
}

const out = { machine: { cpus: cpus().length, loadavgBefore: loadavg().map((x) => x.toFixed(2)) }, load: { N, C, phaseMs: PHASE_MS } };
try {
  const opts = { url, poolSize: 10, version: 'bench', heartbeatMs: 5000, now: Date.now };
  const a = await openPostgresStore({ ...opts, nodeName: 'bench-a' });
  const b = await openPostgresStore({ ...opts, nodeName: 'bench-b' });
  const server = async () => (await a.pool.query('SELECT wal_sync::int AS syncs, (SELECT xact_commit::int FROM pg_stat_database WHERE datname = current_database()) AS commits FROM pg_stat_wal')).rows[0];
  const measure = async (name, n, c, fn, perCall = 1) => {
    const s0 = await server();
    const q0 = a.queue.stats().commits;
    const r = await concurrently(n, c, fn);
    const s1 = await server();
    const items = r.calls * perCall;
    out[name] = { ...r, itemsPerSec: items / r.secs, walFlushes: s1.syncs - s0.syncs, walFlushesPerItem: (s1.syncs - s0.syncs) / items, serverCommits: s1.commits - s0.commits, engineGroupCommits: a.queue.stats().commits - q0 };
    process.stderr.write(`${name}: ${JSON.stringify(out[name])}\n`);
  };

  await measure('accept1', Math.min(N, 500), 1, (i) => a.queue.accept([message(`S${i}`)]));
  await measure('acceptC', N, C, (i) => a.queue.accept([message(`P${i}`)]));

  // claim: two nodes, two workers each
  let claimTx = 0;
  const claimed = [];
  const t0 = performance.now();
  await Promise.all([a, a, b, b].map(async (s, k) => {
    while (performance.now() - t0 < PHASE_MS) {
      const got = await s.recipients.claim(Date.now(), Date.now() + 600_000, k < 2 ? 'bench-a' : 'bench-b', 10);
      claimTx++;
      if (!got.length) return;
      claimed.push(...got);
    }
  }));
  const cs = (performance.now() - t0) / 1000;
  out.claim = { transactions: claimTx, transactionsPerSec: claimTx / cs, recipientsPerSec: claimed.length / cs, batch: 10, nodes: 2, workersPerNode: 2 };
  process.stderr.write(`claim: ${JSON.stringify(out.claim)}\n`);

  // fates on the claimed recipients: a third one plan per call, a third ten per call, the rest expiry (strict)
  const third = Math.floor(claimed.length / 3);
  const one = claimed.slice(0, third);
  const ten = claimed.slice(third, 2 * third);
  const strict = claimed.slice(2 * third);
  await measure('fateAttempt1', one.length, C, (i) => (i % 2 ? a : b).fates.record(fate.plan([delivered(one[i])], Date.now())));
  await measure('fateAttempt10', Math.floor(ten.length / 10), C, (i) => (i % 2 ? a : b).fates.record(fate.plan(ten.slice(i * 10, i * 10 + 10).map(delivered), Date.now())), 10);
  // expiry plans apply only to recipients no worker holds: release the leases first
  await a.recipients.releaseMany(strict.map((r) => ({ id: r.id, at: T0 })));
  const fresh = [];
  for (const r of strict) fresh.push(await a.recipients.get(r.id));
  await measure('fateStrict1', fresh.length, C, (i) => (i % 2 ? a : b).fates.record(fate.plan([expired(fresh[i])], Date.now())));
  await a.close();
  await b.close();
} finally {
  out.machine.loadavgAfter = loadavg().map((x) => x.toFixed(2));
  stop();
}
const f = (x) => (typeof x === 'number' ? (Number.isInteger(x) ? x : Number(x.toFixed(3))) : x);
console.log(JSON.stringify(out, (k, v) => f(v), 2));
