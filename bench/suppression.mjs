// Suppression list benchmark: import of a 1,000,000-row CSV through the real import function,
// then RCPT-time lookups (median, p99) over 100,000 random addresses, half suppressed, half not.
// Run after `npm run build`: node bench/suppression.mjs [ROWS=1000000] [LOOKUPS=100000]
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../dist/store/db.js';
import { importSuppressions } from '../dist/suppress/csv.js';
import { createSuppressionPolicy } from '../dist/suppress/recipient-policy.js';
import { createSuppressionList } from '../dist/suppress/suppression-list.js';
import { createSuppressionsRepo } from '../dist/store/suppressions-repo.js';
import { createInProcessSqliteStore } from '../dist/store/sqlite/engine.js';
import { keyOf } from '../dist/suppress/normalize.js';
import { parseAddress } from '../dist/policy/addresses.js';
import { openThreadedSqliteStore } from '../dist/store/sqlite/threaded.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const LOOKUPS = Number(process.argv[3] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-suppress-'));
const clock = { now: () => Date.now(), setTimer: () => ({ cancel() {} }) };
const DOMAINS = 5000;
const addr = (i) => `user${i}.${(i * 2654435761) % 100000}@Domain${i % DOMAINS}.example`;

try {
  // 1. the CSV: address,reason,category,expires (every 10th row expires in 30 days)
  const csv = join(dir, 'suppressions.csv');
  const w = createWriteStream(csv);
  w.write('address,reason,category,expires\n');
  let buf = '';
  for (let i = 0; i < ROWS; i++) {
    buf += `${addr(i)},"550 5.1.1 <${i}>: Recipient address rejected: User unknown",user_unknown,${i % 10 === 0 ? '30d' : ''}\n`;
    if (buf.length > 1 << 20) {
      if (!w.write(buf)) await once(w, 'drain');
      buf = '';
    }
  }
  w.end(buf);
  await once(w, 'finish');
  const mb = (statSync(csv).size / 1048576).toFixed(0);

  // 2. import through the same function `ferry suppressions import` uses
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const repo = createSuppressionsRepo(db);
  // The relay's list: writes through the Store, the RCPT-time read through Store.suppressionLookup.
  const inProcess = createInProcessSqliteStore(db);
  const list = createSuppressionList({ store: inProcess.suppressions, lookup: inProcess.suppressionLookup, clock });
  let bad = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const res = await importSuppressions({ apply: (rows) => inProcess.audited.importSuppressions(rows, null), input: createReadStream(csv, { highWaterMark: 1 << 20 }), clock, onBadRow: () => bad++ });
  const importS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(`import ${res.imported} rows (${mb} MB CSV, ${res.skipped} skipped): ${importS.toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU, ${(res.imported / importS).toFixed(0)} rows/s`);
  console.log(`table rows: ${repo.count()}, db file: ${(statSync(join(dir, 'ferry.db')).size / 1048576).toFixed(0)} MB + WAL`);
  db.pragma('wal_checkpoint(TRUNCATE)');

  // 3. lookups: half known addresses (random case), half unknown, on random domains
  const inputs = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const n = Math.floor(Math.random() * ROWS);
    const a = i % 2 === 0 ? addr(n).toUpperCase() : `nobody${n}@domain${n % DOMAINS}.example`;
    inputs.push(parseAddress(a));
  }
  const measure = (label, fn) => {
    for (let i = 0; i < 2000; i++) fn(inputs[i]); // warm-up
    const times = new Float64Array(inputs.length);
    let found = 0;
    const start = performance.now();
    for (let i = 0; i < inputs.length; i++) {
      const s = process.hrtime.bigint();
      if (fn(inputs[i])) found++;
      times[i] = Number(process.hrtime.bigint() - s) / 1000;
    }
    const total = performance.now() - start;
    times.sort();
    const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1);
    console.log(`${label.padEnd(44)} median ${q(0.5)} µs  p99 ${q(0.99)} µs  max ${times[times.length - 1].toFixed(0)} µs  (${found} of ${inputs.length} suppressed, ${(inputs.length / total * 1000).toFixed(0)}/s)`);
  };
  // The RCPT-time read as the list makes it (key normalisation + SuppressionLookup), no hit recorded.
  const lookupOf = (l, user) => (p) => { const k = keyOf(p); return l.lookup(k.address, k.domain, user, Date.now()); };
  measure('SuppressionLookup (in-process, synchronous)', lookupOf(inProcess.suppressionLookup, null));
  measure('SuppressionLookup with a user scope', lookupOf(inProcess.suppressionLookup, 'app1'));
  const measureAsync = async (label, fn) => {
    const n = Math.min(inputs.length, 20_000);
    const times = new Float64Array(n);
    let found = 0;
    for (let i = 0; i < n; i++) {
      const s = process.hrtime.bigint();
      if (await fn(inputs[i])) found++;
      times[i] = Number(process.hrtime.bigint() - s) / 1000;
    }
    times.sort();
    const q = (p) => times[Math.min(n - 1, Math.floor(p * n))].toFixed(1);
    console.log(`${label.padEnd(44)} median ${q(0.5)} µs  p99 ${q(0.99)} µs  (${found} of ${n} suppressed; time includes the turn and the hit write)`);
  };
  const dv = db.prepare('PRAGMA data_version').pluck();
  measure('PRAGMA data_version (what a cache would pay)', () => dv.get() < 0);
  const policy = createSuppressionPolicy({ list, mode: 'drop' });
  // Each RCPT in its own turn of the event loop, as on a live relay: hits are written once per turn.
  const inTurns = (fn) => async (p) => { const r = fn(p); await new Promise((resolve) => setImmediate(resolve)); return r; };
  await measureAsync('RCPT policy (lookup + hit flushed per turn)', inTurns((p) => policy.check(p, null).action === 'drop'));
  const direct = async (p) => { const e = await list.find(p, null); if (e) repo.hit(e.id, Date.now()); return e; };
  await measureAsync('lookup + hit written at once (one fsync each)', inTurns(direct));
  db.close();

  // 4. issue 13: the relay's threaded store. RCPT-time lookups on the main thread's read-only
  // connection while the writer thread is busy committing (20,000 upserts posted first, each
  // committed by the writer thread with its fsync): a reader never waits for the writer (WAL).
  const store = await openThreadedSqliteStore({ file: join(dir, 'ferry.db') });
  const readList = createSuppressionList({ store: store.suppressions, lookup: store.suppressionLookup, clock });
  const readPolicy = createSuppressionPolicy({ list: readList, mode: 'drop' });
  const flood = Array.from({ length: 20_000 }, (_, i) =>
    store.suppressions.upsert({ address: `flood${i}@flood.example`, domain: 'flood.example', category: 'user_unknown', reason: 'bench', source: 'bounce', scope: null, createdAt: Date.now(), expiresAt: null }),
  );
  const busyBefore = store.writerStats().inFlight;
  measure('threaded SuppressionLookup (readNow), writer busy', lookupOf(store.suppressionLookup, null));
  measure('RCPT policy check (threaded, hit recorded), busy', (p) => readPolicy.check(p, null).action === 'drop');
  console.log(`  (writer thread: ${busyBefore} writes queued before, ${store.writerStats().inFlight} still queued after the lookups)`);
  const viaStore = async (p) => (await store.suppressions.lookup(p.address.toLowerCase(), p.domain, null, Date.now())) !== undefined;
  await measureAsync('Store.suppressions.lookup (promise), writer busy', viaStore);
  await Promise.all(flood);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
