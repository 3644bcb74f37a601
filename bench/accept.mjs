// Intake benchmark: N messages of about 4 KB over C concurrent SMTP sessions, against the real
// relay (`node bin/ferry start`) in a child process on a temp data directory, durable settings
// as shipped (WAL, synchronous=FULL, fsync'd spool files, group commit).
//
//   npm run build && node bench/accept.mjs [N=5000] [C=20] [SIZE=4096]
//
// Why a child process: the relay's CPU, memory and event loop are then its own. The clients
// here do not compete with it for the event loop and VmHWM (peak RSS) is the relay's alone.
// Clients are raw sockets using PIPELINING (MAIL, RCPT, DATA in one write, then the body), so
// the client side costs little and the figure is the relay's.
//
// Outbound delivery is pointed at a loopback port that accepts connections and never speaks,
// so the delivery workers hold a few connections and stay idle; DMARC lookups are off (they
// would be measuring a DNS server, not intake). Imports nothing from src/ or dist/ (bench/sqlite.mjs
// only picks the better-sqlite3 build for this Node version).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from './sqlite.mjs';

const N = Number(process.argv[2] ?? 5000);
const C = Number(process.argv[3] ?? 20);
const SIZE = Number(process.argv[4] ?? 4096);
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? 300_000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const deadline = () => {
  if (Date.now() - started > DEADLINE_MS) throw new Error(`bench deadline of ${DEADLINE_MS} ms passed`);
};

function listen(server, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server.address().port));
  });
}

// A "destination" that accepts TCP and never greets: deliveries wait, the queue stays put.
const holding = new Set();
const hold = createServer((s) => {
  holding.add(s);
  s.on('error', () => {});
  s.on('close', () => holding.delete(s));
});
const holdPort = await listen(hold);
const probe = createServer();
const smtpPort = await listen(probe);
await new Promise((r) => probe.close(r));

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-bench-accept-'));
const configFile = join(dataDir, 'bench.json');
writeFileSync(
  configFile,
  JSON.stringify({
    hostname: 'bench.ferry.test',
    log: { level: 'warn' },
    routes: { '*': `127.0.0.1:${holdPort}` },
    dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
    dmarc: { mode: 'off' },
    delivery: { greetingTimeoutMs: 3_600_000, connectTimeoutMs: 3_600_000 },
    smtp: { shutdownGraceMs: 2000 },
  }),
);

const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [];
const child = spawn(process.execPath, [...nodeArgs, 'bin/ferry', 'start'], {
  cwd: ROOT,
  env: { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_CONFIG: configFile, FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${smtpPort}` },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
let logTail = '';
child.stdout.on('data', (d) => (logTail = (logTail + d.toString()).slice(-4000)));

// Wait until the relay answers (bounded).
for (let i = 0; ; i++) {
  if (i > 300) throw new Error(`the relay did not start; log: ${logTail}`);
  const ok = await new Promise((resolve) => {
    const s = connect(smtpPort, '127.0.0.1');
    s.once('data', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 100));
}

function vm(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** One SMTP session: a socket plus a queue of complete replies. */
function session() {
  return new Promise((resolve, reject) => {
    const s = connect(smtpPort, '127.0.0.1');
    s.setNoDelay(true);
    let buf = '';
    const replies = [];
    let waiting = null;
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === '-') continue;
        replies.push(line);
      }
      if (waiting && replies.length >= waiting.n) {
        const w = waiting;
        waiting = null;
        w.resolve(replies.splice(0, w.n));
      }
    });
    s.on('error', (err) => (waiting ? waiting.reject(err) : reject(err)));
    const read = (n) =>
      new Promise((res, rej) => {
        if (replies.length >= n) return res(replies.splice(0, n));
        const timer = setTimeout(() => rej(new Error(`no reply within 60 s (session ${s.localPort})`)), 60_000);
        waiting = { n, resolve: (v) => (clearTimeout(timer), res(v)), reject: (e) => (clearTimeout(timer), rej(e)) };
      });
    s.once('connect', async () => {
      try {
        const [greeting] = await read(1);
        if (!greeting.startsWith('220')) throw new Error(greeting);
        s.write('EHLO bench.client\r\n');
        const [ehlo] = await read(1);
        if (!ehlo.startsWith('250')) throw new Error(ehlo);
        resolve({ s, read });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function body(i) {
  const head = `From: Bench <bench@example.com>\r\nTo: rcpt${i}@example.net\r\nSubject: bench message ${i}\r\nMessage-ID: <${i}.${started}@bench.client>\r\nDate: Thu, 15 Jan 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
  let text = head;
  while (text.length + line.length <= SIZE) text += line;
  return Buffer.from(`${text}.\r\n`);
}

const latencies = []; // final dot -> 250, ms
const txLatencies = []; // MAIL FROM -> 250, ms
const ids = new Set();
let next = 0;
let failures = 0;
let peakRss = 0;
const sampler = setInterval(() => {
  try {
    peakRss = Math.max(peakRss, vm('VmRSS'));
  } catch {}
}, 100);

async function worker() {
  const { s, read } = await session();
  for (;;) {
    deadline();
    const i = next++;
    if (i >= N) break;
    const data = body(i);
    const t0 = performance.now();
    s.write(`MAIL FROM:<bench@example.com>\r\nRCPT TO:<rcpt${i}@example.net>\r\nDATA\r\n`);
    const [mail, rcpt, dataReply] = await read(3);
    if (!mail.startsWith('250') || !rcpt.startsWith('250') || !dataReply.startsWith('354')) {
      failures++;
      if (dataReply.startsWith('354')) s.write('.\r\n'), await read(1);
      continue;
    }
    const t1 = performance.now();
    s.write(data);
    const [reply] = await read(1);
    const t2 = performance.now();
    const m = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply);
    if (!m) {
      failures++;
      continue;
    }
    ids.add(m[1]);
    latencies.push(t2 - t1);
    txLatencies.push(t2 - t0);
  }
  s.end('QUIT\r\n');
}

// Warm-up (JIT, SQLite page cache): 200 messages, not counted.
{
  const savedN = next;
  const warm = Math.min(200, N);
  const w = await session();
  for (let i = 0; i < warm; i++) {
    w.s.write(`MAIL FROM:<bench@example.com>\r\nRCPT TO:<warm${i}@example.net>\r\nDATA\r\n`);
    await w.read(3);
    w.s.write(body(i));
    await w.read(1);
  }
  w.s.end('QUIT\r\n');
  next = savedN;
}

function cpuMs() {
  // utime + stime of the relay, in clock ticks (100 per second on Linux)
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
const cpu0 = cpuMs();
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, () => worker()));
const seconds = (performance.now() - t0) / 1000;
const cpuUsed = cpuMs() - cpu0;
clearInterval(sampler);
const hwm = vm('VmHWM');

child.kill('SIGTERM');
const exit = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 30_000))]);
if (!exit) child.kill('SIGKILL');
for (const s of holding) s.destroy();
hold.close();

// Durability check from the database the relay left behind.
const db = new Database(join(dataDir, 'ferry.db'), { readonly: true });
const stored = db.prepare("SELECT COUNT(*) AS n FROM messages WHERE kind = 'submission'").get().n;
const inline = db.prepare("SELECT COUNT(*) AS n FROM messages WHERE body IS NOT NULL AND kind = 'submission'").get().n;
db.close();
rmSync(dataDir, { recursive: true, force: true });

const pct = (arr, p) => {
  const s = [...arr].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const mb = (n) => (n / 1048576).toFixed(1);
console.log(`accept: ${N} messages of ${body(0).length - 3} bytes over ${C} sessions (PIPELINING), relay in a child process`);
console.log(`  accepted         ${ids.size} (failures ${failures}) in ${seconds.toFixed(2)} s`);
console.log(`  throughput       ${(ids.size / seconds).toFixed(0)} messages/s`);
console.log(`  time to 250      after the final dot: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);
console.log(`                   whole transaction:   p50 ${pct(txLatencies, 50).toFixed(1)} ms, p99 ${pct(txLatencies, 99).toFixed(1)} ms`);
console.log(`  relay CPU        ${(cpuUsed / ids.size).toFixed(2)} ms per message (${((cpuUsed / 1000 / seconds) * 100).toFixed(0)}% of one core over the run)`);
console.log(`  relay RSS        peak ${mb(hwm)} MB (VmHWM), sampled peak during the run ${mb(peakRss)} MB`);
console.log(`  in the database  ${stored} messages (incl. 200 warm-up; ${inline} with the body inline), relay exit ${JSON.stringify(exit)}`);
if (stored !== ids.size + Math.min(200, N) || failures) process.exitCode = 1;
