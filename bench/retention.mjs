#!/usr/bin/env node
// Retention benchmark: a steady stream of mail through Ferry (child process, `node bin/ferry
// start`) to a sink MX (smtp-server in this process), all on loopback, while the disk is watched.
//
//   node bench/retention.mjs                              up to 200,000 messages or 10 minutes
//   node bench/retention.mjs --messages 50000 --time-limit-s 300 --days 0.0014
//   node bench/retention.mjs --no-retention --time-limit-s 300   the comparison: nothing deleted
//
// Every 10th message is 256 KB (a spool file), the others 4 KB (inline in SQLite). Ferry runs
// with retention.days set to a short window (default 0.0014 days = 2 minutes) so that, within a
// bounded run, records are pruned as they would be after 30 days in production; bodies go as
// soon as their recipient is delivered (keepBodiesHours 0). Every 5 s it samples the spool
// directory (files, bytes), the database (ferry.db + WAL + SHM bytes, pages in use) and the
// message rows, and the client's 250 latency in that window (does pruning stall intake?).
// Prints the samples and a summary. Needs `npm run build`. Not a pass/fail test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SMTPServer } from 'smtp-server';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    sessions: { type: 'string', default: '10' },
    'time-limit-s': { type: 'string', default: '600' },
    days: { type: 'string', default: '0.0014' },
    'large-every': { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    // the comparison: bodies kept (keepBodiesHours 10^6) and records kept (days 0)
    'no-retention': { type: 'boolean', default: false },
  },
});
const N = Number(args.messages);
const SESSIONS = Number(args.sessions);
const TIME_LIMIT_MS = Number(args['time-limit-s']) * 1000;
const OFF = args['no-retention'];
const DAYS = OFF ? 0 : Number(args.days);
const KEEP_HOURS = OFF ? 1_000_000 : 0;
const LARGE_EVERY = Number(args['large-every']);
const SMALL = 4096;
const LARGE = 256 * 1024;
const root = fileURLToPath(new URL('..', import.meta.url));
const FERRY = join(root, 'bin', 'ferry');
const { default: Database } = await import(join(root, 'dist', 'store', 'sqlite-driver.js'));

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-retention-'));
const dataDir = join(dir, 'data');

function freePort(host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

// ---- the sink MX ----------------------------------------------------------------------------
let received = 0;
const sink = new SMTPServer({
  name: 'sink.bench',
  logger: false,
  disableReverseLookup: true,
  hideSTARTTLS: true,
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: 64 * 1024 * 1024,
  maxClients: 1000,
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      received++;
      cb(null, 'OK sunk');
    });
  },
});
sink.on('error', () => undefined);
const sinkPort = await freePort('127.0.0.2');
await new Promise((r) => sink.listen(sinkPort, '127.0.0.2', r));

// ---- Ferry ----------------------------------------------------------------------------------
const smtpPort = await freePort('127.0.0.1');
const configFile = join(dir, 'ferry.json');
writeFileSync(
  configFile,
  JSON.stringify({
    dataDir,
    hostname: 'bench.ferry.test',
    log: { level: 'warn' },
    dmarc: { mode: 'off' },
    http: { listen: null },
    smtp: { listen: `127.0.0.1:${smtpPort}`, maxMessageSizeBytes: 4 * 1024 * 1024 },
    routes: { '*': `127.0.0.2:${sinkPort}` },
    delivery: { allowPrivateMx: true },
    retention: { days: DAYS, keepBodiesHours: KEEP_HOURS, sweepIntervalMs: 10_000 },
  }),
);
const ferry = spawn(process.execPath, [FERRY, 'start', '-c', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
let ferryExited = false;
ferry.once('exit', () => (ferryExited = true));

async function waitForPort(port, host, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (ferryExited) throw new Error('ferry exited during start-up');
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`ferry did not listen on ${host}:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
await waitForPort(smtpPort, '127.0.0.1', 30_000);

// ---- sampling -------------------------------------------------------------------------------
const db = new Database(join(dataDir, 'ferry.db'), { readonly: true });
db.pragma('busy_timeout = 5000');
const fileSize = (f) => (existsSync(f) ? statSync(f).size : 0);
let windowLatencies = [];
const samples = [];
const t0 = performance.now();
let accepted = 0;
function sample() {
  let files = 0;
  let spoolBytes = 0;
  for (const name of readdirSync(join(dataDir, 'spool'))) {
    try {
      spoolBytes += statSync(join(dataDir, 'spool', name)).size;
      files++;
    } catch {
      // removed between readdir and stat
    }
  }
  const base = join(dataDir, 'ferry.db');
  const dbBytes = fileSize(base) + fileSize(`${base}-wal`) + fileSize(`${base}-shm`);
  let rows = NaN;
  let withBody = NaN;
  let pagesInUse = NaN;
  try {
    rows = db.prepare('SELECT count(*) FROM messages').pluck().get();
    withBody = db.prepare('SELECT count(*) FROM messages WHERE body IS NOT NULL OR spool_file IS NOT NULL').pluck().get();
    pagesInUse = db.pragma('page_count', { simple: true }) - db.pragma('freelist_count', { simple: true });
  } catch {
    // busy: leave this sample's counts empty
  }
  const lat = windowLatencies.sort((a, b) => a - b);
  windowLatencies = [];
  const s = {
    t: (performance.now() - t0) / 1000,
    accepted,
    delivered: received,
    spoolFiles: files,
    spoolBytes,
    dbBytes,
    pageBytes: pagesInUse * 4096,
    rows,
    withBody,
    p99: percentile(lat, 99),
    max: lat.at(-1) ?? NaN,
  };
  samples.push(s);
  return s;
}
const sampler = setInterval(sample, 5000);

// ---- the client -----------------------------------------------------------------------------
const fillerLine = Buffer.from(`${'x'.repeat(76)}\r\n`);
function messageFor(id) {
  const size = id % LARGE_EVERY === 0 ? LARGE : SMALL;
  const head = Buffer.from(`From: bench@ferry.test\r\nTo: sink${id % 100}@sink.test\r\nSubject: retention ${id}\r\nMessage-ID: <ret-${id}@ferry.test>\r\n\r\n`);
  const lines = Math.max(1, Math.floor((size - head.length) / fillerLine.length));
  return Buffer.concat([head, ...Array.from({ length: lines }, () => fillerLine)]);
}
function connect() {
  return new Promise((resolve, reject) => {
    const c = new SMTPConnection({ host: '127.0.0.1', port: smtpPort, ignoreTLS: true, socketTimeout: 120_000, name: 'client.bench' });
    c.once('error', reject);
    c.connect(() => {
      c.removeListener('error', reject);
      c.on('error', () => undefined);
      resolve(c);
    });
  });
}
const allLatencies = [];
function sendOne(c, id) {
  const raw = messageFor(id);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    c.send({ from: 'bench@ferry.test', to: [`sink${id % 100}@sink.test`] }, raw, (err) => {
      if (err) return reject(err);
      const ms = performance.now() - started;
      windowLatencies.push(ms);
      allLatencies.push(ms);
      accepted++;
      resolve();
    });
  });
}
const deadline = Date.now() + TIME_LIMIT_MS;
let next = 0;
let sendErrors = 0;
async function session() {
  let c = await connect();
  let inSession = 0;
  while (next < N && Date.now() < deadline) {
    const id = next++;
    try {
      await sendOne(c, id);
    } catch (err) {
      sendErrors++;
      if (sendErrors <= 3) console.error(`send ${id}: ${err.message}`);
      if (sendErrors > 50) throw new Error('too many send errors');
    }
    // a new session every 1,000 messages, like applications that reconnect
    if (++inSession === 1000) {
      c.quit();
      c = await connect();
      inSession = 0;
    }
  }
  c.quit();
}
await Promise.all(Array.from({ length: SESSIONS }, session));
const sentAt = (performance.now() - t0) / 1000;

// drain: everything delivered and every body removed (bounded)
const drainDeadline = Date.now() + (OFF ? 10_000 : 120_000);
while (Date.now() < drainDeadline) {
  const s = sample();
  if (s.delivered >= accepted && s.spoolFiles === 0 && s.withBody === 0) break;
  await new Promise((r) => setTimeout(r, 1000));
}
const drainedAt = (performance.now() - t0) / 1000;
clearInterval(sampler);
const final = sample();

// ---- report ---------------------------------------------------------------------------------
console.log(`${OFF ? 'NO RETENTION (comparison): ' : ''}retention.days ${DAYS} (${(DAYS * 86400).toFixed(0)} s), keepBodiesHours ${KEEP_HOURS}, sweepIntervalMs 10000; every ${LARGE_EVERY}th message ${LARGE / 1024} KB (spool file), others ${SMALL / 1024} KB (inline)`);
console.log(`accepted ${accepted} in ${sentAt.toFixed(0)} s (${(accepted / sentAt).toFixed(0)} msg/s, ${SESSIONS} sessions)${sendErrors ? `, ${sendErrors} send errors` : ''}; delivered ${received}; drained at ${drainedAt.toFixed(0)} s`);
const all = allLatencies.sort((a, b) => a - b);
console.log(`client 250 latency over the run: p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms, max ${all.at(-1)?.toFixed(0)} ms`);
console.log('');
console.log('    t s   accepted  delivered  spool files  spool MB   db+wal MB  in-use MB   msg rows  with body  250 p99 ms  250 max ms');
const every = Math.max(1, Math.round(samples.length / 24));
samples.forEach((s, i) => {
  if (i % every !== 0 && i !== samples.length - 1) return;
  console.log(
    `${s.t.toFixed(0).padStart(7)} ${String(s.accepted).padStart(10)} ${String(s.delivered).padStart(10)} ${String(s.spoolFiles).padStart(12)} ${(s.spoolBytes / 1048576).toFixed(1).padStart(9)} ${(s.dbBytes / 1048576).toFixed(1).padStart(11)} ${(s.pageBytes / 1048576).toFixed(1).padStart(10)} ${String(s.rows).padStart(10)} ${String(s.withBody).padStart(10)} ${s.p99.toFixed(1).padStart(11)} ${s.max.toFixed(0).padStart(11)}`,
  );
});
const during = samples.filter((s) => s.t <= sentAt);
const half = during.filter((s) => s.t >= sentAt / 2);
console.log('');
console.log(`spool files: max ${Math.max(...during.map((s) => s.spoolFiles))} during the run, ${final.spoolFiles} at the end (${mb(final.spoolBytes)})`);
console.log(`bodies still held at the end: ${final.withBody}`);
console.log(`database (ferry.db + WAL + SHM): ${mb(Math.max(...half.map((s) => s.dbBytes)))} max in the second half of the run, ${mb(final.dbBytes)} at the end; pages in use ${mb(final.pageBytes)}`);
console.log(`message rows: max ${Math.max(...during.map((s) => s.rows).filter(Number.isFinite))}, ${final.rows} at the end (of ${accepted} accepted)`);
console.log(`load average now ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);

db.close();
ferry.kill('SIGTERM');
await Promise.race([new Promise((r) => ferry.once('exit', r)), new Promise((r) => setTimeout(r, 30_000))]);
if (!ferryExited) ferry.kill('SIGKILL');
await new Promise((r) => sink.close(r));
if (!args.keep) rmSync(dir, { recursive: true, force: true });
