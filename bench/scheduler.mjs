// Scheduler benchmark: CPU of the relay with 100,000 waiting recipients across 10,000 domains.
//   1. idle: every recipient deferred and not due for a day — process CPU over 30 s of idle;
//   2. all due, and a gate that blocks most domains (default limit 1 per hour, 99% of the
//      domains' hour already spent): the one pass that hands the blocked mail back, then
//      CPU and claim queries over 30 s (does the scheduler spin?);
//   3. what persisting budget state costs: one row per commit (per message) vs. one batch.
// Rows are inserted straight into a fresh database through the compiled repositories; the relay
// is the real one (createFerry from dist/). Everything stays on 127.0.0.1.
// Run after `npm run build`: node bench/scheduler.mjs [RECIPIENTS=100000] [DOMAINS=10000] [IDLE_S=30]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SMTPServer } from 'smtp-server';
import { buildConfig } from '../dist/config/load.js';
import { createFerry } from '../dist/main.js';
import { openDatabase } from '../dist/store/db.js';
import { createQueueStore } from '../dist/store/queue-store.js';
import { createLimitsRepo } from '../dist/store/limits-repo.js';

const RECIPIENTS = Number(process.argv[2] ?? 100_000);
const DOMAINS = Number(process.argv[3] ?? 10_000);
const IDLE_S = Number(process.argv[4] ?? 30);
const ONLY = process.env.BENCH_ONLY ? Number(process.env.BENCH_ONLY) : null;
const DAY = 86_400_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuMs = (u) => (u.user + u.system) / 1000;
const fmt = (n, d = 1) => n.toFixed(d);

// A sink MX on loopback: every route goes here, so nothing leaves the machine.
let sinkMessages = 0;
const sink = new SMTPServer({
  authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, disableReverseLookup: true,
  onData(stream, _s, cb) { stream.on('data', () => {}); stream.on('end', () => { sinkMessages++; cb(); }); },
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = sink.server.address().port;

function seed(dir, { due }) {
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const queue = createQueueStore(db);
  const now = Date.now();
  const headers = Buffer.from('From: bench@ferry.test\r\nSubject: bench\r\n\r\n');
  const perMessage = RECIPIENTS / DOMAINS >= 1 ? 1 : 1;
  let batch = [];
  for (let i = 0; i < RECIPIENTS; i += perMessage) {
    const domain = `d${i % DOMAINS}.bench.test`;
    batch.push({
      message: {
        id: `BENCH${String(i).padStart(7, '0')}`, createdAt: now, sender: 'bench@ferry.test', username: null, clientIp: '127.0.0.1',
        helo: 'bench', tls: null, size: headers.length + 6, headers, body: Buffer.from('hello\n'), spoolFile: null,
        headerFrom: 'bench@ferry.test', messageIdHeader: null, subject: 'bench', eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: [{ address: `u${i}@${domain}`, domain, status: 'queued', reason: null, category: null }],
    });
    if (batch.length === 5000) { queue.accept(batch); batch = []; }
  }
  if (batch.length) queue.accept(batch);
  if (!due) {
    // deferred after one attempt, next try in a day
    const tx = db.transaction(() => {
      for (let id = 1; id <= RECIPIENTS; id++) {
        queue.recipients.changeStatus(id, { status: 'deferred', at: now, nextAttemptAt: now + DAY, attempted: true, code: 451, reply: '451 4.3.0 try later', category: 'temporary' });
      }
    });
    tx();
  }
  return db;
}

function relayConfig(dir) {
  return buildConfig({
    dataDir: dir, hostname: 'bench.ferry.test', log: { level: 'silent' }, dmarc: { mode: 'off' },
    smtp: { listen: '127.0.0.1:0' },
    dns: { servers: ['127.0.0.1:9'], timeoutMs: 200, tries: 1 },
    routes: { '*': `127.0.0.1:${sinkPort}` },
    delivery: { allowPrivateMx: true },
  }, dir);
}

/** Counts claim queries and claimed rows by wrapping the relay's own repository method. */
function countClaims(ferry) {
  const r = ferry.queue.recipients;
  const orig = r.claim.bind(r);
  const c = { calls: 0, rows: 0 };
  r.claim = (...a) => { const rows = orig(...a); c.calls++; c.rows += rows.length; return rows; };
  return c;
}

async function idleWindow(ferry, claims, seconds) {
  const c0 = { ...claims };
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = cpuMs(process.cpuUsage(u0));
  const wall = performance.now() - t0;
  return { cpu, wall, claims: claims.calls - c0.calls, rows: claims.rows - c0.rows, share: (100 * cpu) / wall };
}

// ---- 0. baseline: the same relay with an empty queue --------------------------------------------
if (ONLY === null || ONLY === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-sched-'));
  try {
    const ferry = createFerry(relayConfig(dir));
    const claims = countClaims(ferry);
    await ferry.start();
    await sleep(2000);
    const w = await idleWindow(ferry, claims, IDLE_S);
    console.log(`0. baseline, empty queue: CPU ${fmt(w.cpu)} ms over ${fmt(w.wall / 1000)} s (${fmt(w.share, 3)}% of one core); ${w.claims} claim queries`);
    await ferry.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 1. idle with 100,000 deferred, not-due recipients --------------------------------------
if (ONLY === null || ONLY === 1) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-sched-'));
  try {
    const t0 = performance.now();
    seed(dir, { due: false }).close();
    console.log(`seeded ${RECIPIENTS} deferred recipients across ${DOMAINS} domains in ${fmt((performance.now() - t0) / 1000)} s`);
    const ferry = createFerry(relayConfig(dir));
    const claims = countClaims(ferry);
    await ferry.start();
    await sleep(2000);
    const w = await idleWindow(ferry, claims, IDLE_S);
    console.log(`1. idle, nothing due: CPU ${fmt(w.cpu)} ms over ${fmt(w.wall / 1000)} s (${fmt(w.share, 3)}% of one core); ${w.claims} claim queries, ${w.rows} rows claimed`);
    await ferry.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 2. all due, the gate blocks 99% of the domains -------------------------------------------
if (ONLY === null || ONLY === 2) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-sched-'));
  try {
    const db = seed(dir, { due: true });
    const limits = createLimitsRepo(db);
    const now = Date.now();
    limits.set('default', { perMinute: null, perHour: 1, perDay: null, connections: null, perConnection: null }, now);
    // 99% of the domains sent their one message of this hour just now.
    const open = Math.max(1, Math.floor(DOMAINS / 100));
    const spent = JSON.stringify({ minute: [[Math.floor(now / 1000), 1]], hour: [[Math.floor(now / 60_000), 1]], day: [[Math.floor(now / 1_440_000), 1]] });
    const rows = [];
    for (let d = open; d < DOMAINS; d++) {
      rows.push({ bucket: `d${d}.bench.test`, target: 'default', windows: spent, connections: 0, slowPerMinute: null, slowRestoreTo: null, slowSince: null, slowUntil: null, slowNextStepAt: null, slowLastHalvedAt: null, slowReason: null, updatedAt: now });
    }
    limits.saveStates(rows);
    db.close();

    const ferry = createFerry(relayConfig(dir));
    const claims = countClaims(ferry);
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    await ferry.start();
    const dueNow = ferry.db.prepare("SELECT COUNT(*) AS n FROM recipients WHERE status IN ('queued','deferred') AND next_attempt_at <= ?");
    let lastReport = performance.now();
    while (!(ferry.scheduler.stats.inFlight === 0 && ferry.scheduler.stats.connections === 0 && dueNow.get(Date.now()).n === 0)) {
      await sleep(20);
      if (process.env.BENCH_VERBOSE && performance.now() - lastReport > 2000) {
        lastReport = performance.now();
        console.log('   ...', JSON.stringify(ferry.scheduler.stats), 'due', dueNow.get(Date.now()).n, 'claims', claims.calls, claims.rows, 'delivered', sinkMessages);
      }
    }
    const passCpu = cpuMs(process.cpuUsage(u0));
    const passWall = performance.now() - t0;
    const held = ferry.db.prepare("SELECT COUNT(*) AS n, MIN(next_attempt_at) AS first, MAX(next_attempt_at) AS last FROM recipients WHERE status = 'queued'").get();
    console.log(
      `2. all ${RECIPIENTS} due, ${DOMAINS - open} of ${DOMAINS} domains out of budget (1/hour): first pass ${fmt(passWall / 1000, 2)} s wall, ${fmt(passCpu)} ms CPU; ` +
        `${claims.calls} claim queries, ${claims.rows} rows claimed; ${sinkMessages} delivered; ${held.n} held back, due from +${fmt((held.first - Date.now()) / 60000)} min to +${fmt((held.last - Date.now()) / 3600000)} h`,
    );
    const w = await idleWindow(ferry, claims, Math.min(IDLE_S, 40));
    console.log(`   then ${fmt(w.wall / 1000)} s with everything held back: CPU ${fmt(w.cpu)} ms (${fmt(w.share, 3)}% of one core); ${w.claims} claim queries, ${w.rows} rows claimed`);
    await ferry.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 3. persisting budget state: per message vs. batched --------------------------------------
if (ONLY === null || ONLY === 3) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-sched-'));
  try {
    const db = openDatabase({ file: join(dir, 'ferry.db') });
    const repo = createLimitsRepo(db);
    const row = (i) => ({ bucket: `d${i % 1000}.bench.test`, target: 'default', windows: JSON.stringify({ minute: [[1, i]], hour: [[1, i]], day: [[1, i]] }), connections: 0, slowPerMinute: null, slowRestoreTo: null, slowSince: null, slowUntil: null, slowNextStepAt: null, slowLastHalvedAt: null, slowReason: null, updatedAt: i });
    const N = 2000;
    let t0 = performance.now();
    for (let i = 0; i < N; i++) repo.saveStates([row(i)]);
    const single = (performance.now() - t0) / N;
    const rows = Array.from({ length: 1000 }, (_, i) => row(i));
    t0 = performance.now();
    for (let i = 0; i < 20; i++) repo.saveStates(rows);
    const batch = (performance.now() - t0) / 20;
    console.log(`3. state writes (synchronous=FULL, WAL): one row per commit ${fmt(single, 3)} ms each (a cap of ~${fmt(1000 / single, 0)} messages/s if written per message); 1,000 budgets in one commit ${fmt(batch, 2)} ms`);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
sink.close();
