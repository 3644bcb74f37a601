// PostgreSQL store engine benchmark: commit rates of the transactions a cluster lives on, on a
// throwaway PostgreSQL server started here (fsync ON, synchronous_commit on: durable as shipped),
// next to the SQLite engine's grouped accept on the same load.
//
//   npm run build && node bench/postgres.mjs [N=4000] [C=20] [SIZE=4096]
//
// - accept: N messages of SIZE bytes, one recipient each, C concurrent intakes each awaiting its
//   commit before the next (as an SMTP session awaits its 250): accepted/s, commits, batch size;
// - claim: two engine instances (two nodes) × 2 workers claiming batches of 10 with
//   FOR UPDATE SKIP LOCKED until nothing is due: claim transactions/s and recipients/s;
// - fate: per claimed recipient one transaction (status change + attempt + event), C at once;
// - suppression lookup at RCPT: cached and uncached, µs;
// - SQLite: the same accept load through src/store/queue-store.js with its group committer,
//   in this process on a temp directory (synchronous=FULL).
// Bounded: stops each phase at BENCH_PHASE_MS (default 40 s). Root runs initdb as `postgres`.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const N = Number(process.argv[2] ?? 4000);
const C = Number(process.argv[3] ?? 20);
const SIZE = Number(process.argv[4] ?? 4096);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 40_000);
// BIG=M adds a phase: M messages of 10 MB accepted from a spool file (20 at once) and streamed
// back out, with this process's peak RSS (the server's memory is its own).
const BIG = Number(process.env.BIG ?? 0);
// BIG_PHASE_MS bounds each of its two phases (default 110 s); BIG_READ how many of them are
// streamed back out (default all accepted): the 2,000 x 10 MB is about queueing them.
const BIG_PHASE_MS = Number(process.env.BIG_PHASE_MS ?? 110_000);
const BIG_READ = process.env.BIG_READ === undefined ? Infinity : Number(process.env.BIG_READ);
const dist = new URL('../dist/', import.meta.url);
const { openPostgresStore } = await import(new URL('store/postgres/engine.js', dist).href);
const { changeRecipientStatus } = await import(new URL('store/postgres/recipients.js', dist).href);
const { appendEvent } = await import(new URL('store/postgres/events.js', dist).href);
const { insertAttempt } = await import(new URL('store/postgres/delivery-records.js', dist).href);
const { inTransaction } = await import(new URL('store/postgres/pool.js', dist).href);

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
const dir = mkdtempSync(join(tmpdir(), 'ferry-pgbench-'));
if (process.getuid() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
const data = join(dir, 'data');
run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
run('pg_ctl', ['start', '-w', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB`]);
const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
const stop = () => {
  try {
    run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', () => { try { process.kill(pid, 0); stop(); } catch { /* stopped */ } });
const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

const out = { machine: { cpus: cpus().length, loadavgBefore: loadavg().map((x) => x.toFixed(2)) }, load: { N, C, SIZE } };
const body = Buffer.alloc(SIZE - 60, 'x');
const message = (id, at) => ({
  message: {
    id, createdAt: at, sender: 'app@sender.test', username: null, clientIp: '127.0.0.1', helo: 'bench', tls: null,
    size: 60 + body.length, headers: Buffer.alloc(60, 'h'), body, spoolFile: null, headerFrom: 'app@sender.test',
    messageIdHeader: `<${id}@bench>`, subject: id, eightBit: false, smtputf8: false, kind: 'submission',
  },
  recipients: [{ address: `r${id}@d${Number(id.slice(1)) % 10}.test`, domain: `d${Number(id.slice(1)) % 10}.test`, status: 'queued', reason: null, category: null }],
});

async function concurrently(n, c, fn, phaseMs = PHASE_MS) {
  let next = 0;
  const t0 = performance.now();
  const lat = [];
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n && performance.now() - t0 < phaseMs) {
      const i = next++;
      const s = performance.now();
      await fn(i);
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { done: lat.length, secs, perSec: lat.length / secs, p50ms: lat[Math.floor(lat.length / 2)], p99ms: lat[Math.floor(lat.length * 0.99)] };
}

try {
  const now = Date.now();
  const opts = { url, poolSize: 10, version: 'bench', heartbeatMs: 5000, now: Date.now };
  const a = await openPostgresStore({ ...opts, nodeName: 'bench-a' });
  const b = await openPostgresStore({ ...opts, nodeName: 'bench-b' });

  // 1. accept (grouped commits)
  const acc = await concurrently(N, C, (i) => a.queue.accept([message(`P${i}`, now)]));
  const st = a.queue.stats();
  out.pgAccept = { ...acc, commits: st.commits, messagesPerCommit: acc.done / st.commits };

  // 2. claim from two nodes
  let claimTx = 0;
  let claimed = 0;
  const claimed_ids = [];
  const t0 = performance.now();
  await Promise.all([a, a, b, b].map(async (s, k) => {
    for (;;) {
      if (performance.now() - t0 > PHASE_MS) return;
      const got = await s.recipients.claim(Date.now(), Date.now() + 120_000, k < 2 ? 'bench-a' : 'bench-b', 10);
      claimTx++;
      if (!got.length) return;
      claimed += got.length;
      for (const r of got) claimed_ids.push(r);
    }
  }));
  const cs = (performance.now() - t0) / 1000;
  out.pgClaim = { transactionsPerSec: claimTx / cs, recipientsPerSec: claimed / cs, recipients: claimed, batch: 10, nodes: 2, workersPerNode: 2 };

  // 3. fate: status + attempt + event in one transaction per recipient
  const fate = await concurrently(claimed_ids.length, C, (i) => {
    const r = claimed_ids[i];
    const at = Date.now();
    return inTransaction((i % 2 ? a : b).pool, async (c) => {
      await changeRecipientStatus(c, r.id, { status: 'delivered', at, nextAttemptAt: null, attempted: true, code: 250, reply: '250 ok', mxHost: 'mx.bench' });
      await insertAttempt(c, { recipientId: r.id, messageId: r.messageId, at, durationMs: 5, result: 'delivered', phase: 'message', mxHost: 'mx.bench', ip: '127.0.0.2', port: 25, tlsProtocol: null, tlsCipher: null, code: 250, enhanced: '2.0.0', reply: '250 ok', errorKind: null, error: null, category: null, rule: null, hops: null });
      await appendEvent(c, { at, messageId: r.messageId, recipientId: r.id, recipient: r.address, type: 'delivered', status: 'delivered', category: null, detail: null });
    });
  });
  out.pgFate = { ...fate, note: 'one transaction each, not grouped' };

  // 4. suppression lookups
  for (let i = 0; i < 1000; i++) await a.suppressions.upsert({ address: `s${i}@d.test`, domain: 'd.test', category: 'user_unknown', reason: '', source: 'import', scope: null, createdAt: now, expiresAt: null });
  const lookups = async (n) => {
    const lat = [];
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      await b.suppressions.lookup(`u${i % 500}@d.test`, 'd.test', null, now);
      lat.push((performance.now() - s) * 1000);
    }
    return lat;
  };
  const cold = (await lookups(500)).sort((x, y) => x - y);
  const warm = (await lookups(20_000)).sort((x, y) => x - y);
  out.suppressionLookupUs = { uncachedMedian: cold[250], cachedMedian: warm[10_000], cachedP99: warm[19_800] };
  if (BIG > 0) {
    const { writeFileSync } = await import('node:fs');
    const { createHash } = await import('node:crypto');
    const spool = join(dir, 'big.eml');
    writeFileSync(spool, Buffer.alloc(10 * 1024 * 1024, 'b'));
    const rssBefore = process.memoryUsage().rss;
    const big = await concurrently(BIG, 20, (i) => {
      const m = message(`BIG${i}`, now);
      m.message.body = null;
      m.message.spoolFile = spool;
      m.message.size = 60 + 10 * 1024 * 1024;
      return a.queue.accept([m]);
    }, BIG_PHASE_MS);
    const rssQueuedMB = process.resourceUsage().maxRSS / 1024;
    const readBack = await concurrently(Math.min(big.done, BIG_READ), 20, (i) => new Promise((resolve, reject) => {
      const h = createHash('sha256');
      b.messages.openBody(`BIG${i}`).on('data', (c) => h.update(c)).on('end', resolve).on('error', reject);
    }), BIG_PHASE_MS);
    out.bigMessages = { accepted: big.done, peakRssWhileQueueingMB: rssQueuedMB, acceptPerSec: big.perSec, acceptMBps: big.perSec * 10, streamedOut: readBack.done, outMBps: readBack.perSec * 10,
      rssBeforeMB: rssBefore / 2 ** 20, peakRssMB: process.resourceUsage().maxRSS / 1024 };
  }
  await a.close();
  await b.close();

  // 5. SQLite, same accept load, same process
  const { openDatabase } = await import(new URL('store/db.js', dist).href);
  const { createQueueStore } = await import(new URL('store/queue-store.js', dist).href);
  const { createGroupCommitter } = await import(new URL('store/group-commit.js', dist).href);
  const sdir = mkdtempSync(join(tmpdir(), 'ferry-sqlbench-'));
  const db = openDatabase({ file: join(sdir, 'ferry.db') });
  const q = createQueueStore(db);
  let sCommits = 0;
  const gc = createGroupCommitter((items) => { q.accept(items); sCommits++; }, 256);
  const sacc = await concurrently(N, C, (i) => gc.submit(message(`S${i}`, now)));
  out.sqliteAccept = { ...sacc, commits: sCommits, messagesPerCommit: sacc.done / sCommits, note: 'synchronous on the event loop (today\'s engine)' };
  db.close();
  rmSync(sdir, { recursive: true, force: true });
} finally {
  out.machine.loadavgAfter = loadavg().map((x) => x.toFixed(2));
  stop();
}
const f = (x) => (typeof x === 'number' ? (Number.isInteger(x) ? x : Number(x.toFixed(2))) : x);
console.log(JSON.stringify(out, (k, v) => f(v), 2));
