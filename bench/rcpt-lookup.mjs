// Issue 13: the RCPT-time suppression lookup at 1,000,000 entries, per engine, misses (most
// RCPTs) and hits apart. What is timed is the relay's own path: a recipient already parsed by the
// SMTP listener goes through the suppression policy (createSuppressionPolicy → the list's check →
// key normalisation → Store.suppressionLookup), and, separately, the bare SuppressionLookup.
//
//   npm run build && node bench/rcpt-lookup.mjs [ROWS=1000000] [LOOKUPS=50000] [--pg]
//
// SQLite cases:
// - in-process engine (one connection: the CLI, tests);
// - threaded engine (the relay): the read-only connection of the SMTP thread, writer idle;
// - threaded engine, and another connection commits a write to the suppressions table before
//   EVERY lookup (untimed): the live relay's shape, where the writer thread commits all the time,
//   so every lookup starts from a database that changed since the previous one.
// PostgreSQL (--pg, a throwaway PostgreSQL started here): the node's LISTEN/NOTIFY-fed cache,
// first lookup of a key (a round trip, a promise) and the same keys again (cached, synchronous).
//
// Printed: wall median / p99 per lookup, CPU time per lookup (this process's user+system time
// around each lookup, summed: under a loaded machine the wall figures queue for a core, the CPU
// figure much less), machine load average before and after, resident memory.
// BENCH_DB=/path/file.db keeps the seeded SQLite file between runs (seeded once, reused).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const ROWS = Number(args[0] ?? 1_000_000);
const LOOKUPS = Number(args[1] ?? 50_000);
const WITH_PG = process.argv.includes('--pg');
const DOMAINS = 5000;
const NOW = Date.UTC(2026, 11, 7);

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { openDatabase } = await imp('store/db.js');
const { createInProcessSqliteStore } = await imp('store/sqlite/engine.js');
const { openThreadedSqliteStore } = await imp('store/sqlite/threaded.js');
const { createSuppressionList } = await imp('suppress/suppression-list.js');
const { createSuppressionPolicy } = await imp('suppress/recipient-policy.js');
const { keyOf } = await imp('suppress/normalize.js');
const { parseAddress } = await imp('policy/addresses.js');

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const mb = (n) => `${(n / 1048576).toFixed(0)} MB`;
console.log(`rcpt-lookup: ${ROWS} entries, ${LOOKUPS} lookups per case, ${cpus().length} CPUs, Node ${process.version}, load average ${load()}`);

// Entry i: user{i}.{hash}@domain{i % 5000}.example; every 10th expires in a year; every 50th is
// scoped to the SMTP user app1; 500 whole-domain entries on blocked{j}.example.
const address = (i) => `user${i}.${(i * 2654435761) % 100000}@domain${i % DOMAINS}.example`;
const SEED_SQL = (rows) => `
  WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${rows - 1})
  INSERT INTO suppressions (address, domain, category, reason, source, scope, created_at, expires_at)
  SELECT 'user' || i || '.' || ((i * 2654435761) % 100000) || '@domain' || (i % ${DOMAINS}) || '.example',
         'domain' || (i % ${DOMAINS}) || '.example', 'user_unknown',
         '550 5.1.1 <' || i || '>: Recipient address rejected: User unknown', 'import',
         CASE WHEN i % 50 = 0 THEN 'app1' ELSE '' END, ${NOW - 86_400_000},
         CASE WHEN i % 10 = 0 THEN ${NOW + 365 * 86_400_000} ELSE NULL END
  FROM c;
  WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < 499)
  INSERT INTO suppressions (address, domain, category, reason, source, scope, created_at, expires_at)
  SELECT '@blocked' || j || '.example', 'blocked' || j || '.example', 'domain_invalid', 'null MX', 'bounce', '', ${NOW - 86_400_000}, NULL FROM c;`;

// Inputs as the SMTP listener hands them over (parsed once at RCPT), in mixed case.
const rand = (n) => Math.floor(Math.random() * n);
const inputs = { miss: [], hit: [] };
for (let i = 0; i < LOOKUPS; i++) {
  const n = rand(ROWS);
  inputs.miss.push(parseAddress(`Nobody${n}@Domain${n % DOMAINS}.example`));
  let m = rand(ROWS);
  if (m % 50 === 0) m++; // global entries (a scoped one is a miss for a null user)
  inputs.hit.push(i % 10 === 9 ? parseAddress(`anyone${i}@Blocked${i % 500}.example`) : parseAddress(address(m).toUpperCase()));
}

/** Times fn over every input: wall per call (median, p99), CPU per call, how many were suppressed. */
function measure(label, kind, fn, before = null) {
  const set = inputs[kind];
  for (let i = 0; i < Math.min(2000, set.length); i++) fn(set[i]); // warm-up
  const times = new Float64Array(set.length);
  let found = 0;
  let cpu = 0;
  for (let i = 0; i < set.length; i++) {
    if (before) before(i);
    const c0 = process.cpuUsage();
    const s = process.hrtime.bigint();
    const r = fn(set[i]);
    times[i] = Number(process.hrtime.bigint() - s) / 1000;
    const c = process.cpuUsage(c0);
    cpu += c.user + c.system;
    if (r instanceof Promise) throw new Error(`${label}: a promise where a synchronous answer was expected`);
    if (r) found++;
  }
  report(label, kind, times, cpu, found);
}

async function measureAsync(label, kind, fn) {
  const set = inputs[kind];
  const times = new Float64Array(set.length);
  let found = 0;
  let cpu = 0;
  let promises = 0;
  for (let i = 0; i < set.length; i++) {
    const c0 = process.cpuUsage();
    const s = process.hrtime.bigint();
    let r = fn(set[i]);
    if (r instanceof Promise) {
      promises++;
      r = await r;
    }
    times[i] = Number(process.hrtime.bigint() - s) / 1000;
    const c = process.cpuUsage(c0);
    cpu += c.user + c.system;
    if (r) found++;
  }
  report(`${label}${promises ? ` (${promises} promises)` : ''}`, kind, times, cpu, found);
}

function report(label, kind, times, cpu, found) {
  times.sort();
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1).padStart(6);
  console.log(`${label.padEnd(62)} ${kind.padEnd(4)} median ${q(0.5)} µs  p99 ${q(0.99)} µs  CPU ${(cpu / times.length).toFixed(1).padStart(5)} µs/lookup  (${found}/${times.length} suppressed)`);
}

const clock = { now: () => NOW, setTimer: () => ({ cancel() {} }) };
/** The relay's RCPT path over a store: policy → list.check → keyOf → SuppressionLookup. Hits are recorded, never flushed here. */
const rcptPath = (store) => {
  const list = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock, defer: () => {} });
  const policy = createSuppressionPolicy({ list, mode: 'drop' });
  return (p) => {
    const d = policy.check(p, null);
    return d instanceof Promise ? d.then((x) => x.action === 'drop') : d.action === 'drop';
  };
};
const bareLookup = (lookup) => (p) => {
  const k = keyOf(p);
  return lookup.lookup(k.address, k.domain, null, NOW);
};

// ---- SQLite ----
const tmp = mkdtempSync(join(tmpdir(), 'ferry-bench-rcpt-'));
const file = process.env.BENCH_DB ?? join(tmp, 'ferry.db');
try {
  {
    const db = openDatabase({ file });
    const n = db.prepare('SELECT count(*) FROM suppressions').pluck().get();
    if (n !== ROWS + 500) {
      const t0 = process.hrtime.bigint();
      db.exec('DELETE FROM suppressions');
      db.exec(SEED_SQL(ROWS));
      db.pragma('wal_checkpoint(TRUNCATE)');
      console.log(`seeded ${ROWS + 500} entries in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
    } else console.log(`reusing ${file} (${n} entries)`);
    db.close();
  }
  const rss0 = process.memoryUsage().rss;

  const db = openDatabase({ file });
  const inProcess = createInProcessSqliteStore(db);
  for (const kind of ['miss', 'hit']) {
    measure('SQLite in-process: SuppressionLookup', kind, bareLookup(inProcess.suppressionLookup));
    measure('SQLite in-process: RCPT policy check', kind, rcptPath(inProcess));
  }
  await inProcess.close();

  const store = await openThreadedSqliteStore({ file });
  const rcpt = rcptPath(store);
  for (const kind of ['miss', 'hit']) {
    measure('SQLite threaded, writer idle: SuppressionLookup', kind, bareLookup(store.suppressionLookup));
    measure('SQLite threaded, writer idle: RCPT policy check', kind, rcpt);
  }
  // Another connection (as the writer thread, or the CLI in another process) commits before
  // every lookup: a hit count, as the relay writes them. Untimed; synchronous=OFF to keep it cheap.
  const other = openDatabase({ file });
  other.pragma('synchronous = OFF');
  const bump = other.prepare('UPDATE suppressions SET hits = hits + 1 WHERE id = ?');
  const commitFirst = (i) => bump.run(1 + (i * 7919) % ROWS);
  for (const kind of ['miss', 'hit']) {
    measure('SQLite threaded, a commit before each: SuppressionLookup', kind, bareLookup(store.suppressionLookup), commitFirst);
    measure('SQLite threaded, a commit before each: RCPT policy check', kind, rcpt, commitFirst);
  }
  other.close();
  const rss1 = process.memoryUsage().rss;
  console.log(`resident memory: ${mb(rss0)} before the SQLite cases, ${mb(rss1)} after (heap ${mb(process.memoryUsage().heapUsed)})`);
  await store.close();
} finally {
  if (!process.env.BENCH_DB) rmSync(tmp, { recursive: true, force: true });
}

// ---- PostgreSQL ----
if (WITH_PG) {
  const { openPostgresStore } = await imp('store/postgres/engine.js');
  const debian = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
  const BIN = [...debian, '/usr/local/bin', '/usr/bin'].find((d) => existsSync(join(d, 'initdb')));
  if (!BIN) throw new Error('PostgreSQL binaries not found (apt-get install postgresql)');
  const asPg = (bin, a) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...a]] : [join(BIN, bin), a]);
  const run = (bin, a) => execFileSync(...asPg(bin, a), { stdio: 'pipe' });
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-rcpt-pg-'));
  if (process.getuid() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
  run('pg_ctl', ['start', '-w', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -h 127.0.0.1 -k ${dir} -c shared_buffers=256MB`]);
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
  try {
    const pgStore = await openPostgresStore({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, poolSize: 4, nodeName: 'bench', version: 'bench', heartbeatMs: 60_000, now: Date.now });
    const t0 = process.hrtime.bigint();
    await pgStore.pool.query(`
      INSERT INTO suppressions (address, domain, category, reason, source, scope, created_at, expires_at)
      SELECT 'user' || i || '.' || ((i * 2654435761) % 100000) || '@domain' || (i % ${DOMAINS}) || '.example',
             'domain' || (i % ${DOMAINS}) || '.example', 'user_unknown',
             '550 5.1.1 <' || i || '>: Recipient address rejected: User unknown', 'import',
             CASE WHEN i % 50 = 0 THEN 'app1' ELSE '' END, ${NOW - 86_400_000},
             CASE WHEN i % 10 = 0 THEN ${NOW + 365 * 86_400_000} ELSE NULL END
      FROM generate_series(0::bigint, ${ROWS - 1}) AS i;
      INSERT INTO suppressions (address, domain, category, reason, source, scope, created_at, expires_at)
      SELECT '@blocked' || j || '.example', 'blocked' || j || '.example', 'domain_invalid', 'null MX', 'bounce', '', ${NOW - 86_400_000}, NULL
      FROM generate_series(0, 499) AS j;`);
    await pgStore.pool.query('ANALYZE suppressions');
    console.log(`PostgreSQL: seeded ${ROWS + 500} entries in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
    const pgRcpt = rcptPath(pgStore);
    for (const kind of ['miss', 'hit']) {
      await measureAsync('PostgreSQL, first lookup of each key: RCPT policy check', kind, pgRcpt);
      await measureAsync('PostgreSQL, the same keys again (cached): RCPT policy check', kind, pgRcpt);
    }
    await pgStore.close();
  } finally {
    stop();
  }
}
console.log(`load average after: ${load()}`);
