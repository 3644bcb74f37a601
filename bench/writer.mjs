// Writer-thread benchmark (issue 13 item 4): accepted/s, time to 250 and the SMTP thread's
// event-loop delay p99 (perf_hooks.monitorEventLoopDelay, read from the relay's own /metrics:
// prom-client's nodejs_eventloop_lag_p99_seconds, reset at each scrape, so the figure covers the
// run only), for N messages of SIZE bytes over C concurrent clients, either over reused sessions
// (PIPELINING) or with a new connection per message (connect, greeting, EHLO, MAIL, RCPT, DATA,
// QUIT). The relay runs from a built tree (default this one) in a child process, so "before" and
// "after" are the same command with --ferry pointing at another build.
//
//   npm run build && node bench/writer.mjs [--mode reused|new] [--messages 5000] [--clients 20] [--size 4096] [--ferry DIR]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', default: 'reused' },
    messages: { type: 'string', default: '5000' },
    clients: { type: 'string', default: '20' },
    size: { type: 'string', default: '4096' },
    ferry: { type: 'string' },
    'deadline-ms': { type: 'string', default: '120000' },
  },
});
const N = Number(opts.messages);
const C = Number(opts.clients);
const SIZE = Number(opts.size);
const MODE = opts.mode;
if (MODE !== 'reused' && MODE !== 'new') throw new Error('--mode reused|new');
const DEADLINE_MS = Number(opts['deadline-ms']);
const ROOT = opts.ferry ? resolvePath(opts.ferry) : fileURLToPath(new URL('..', import.meta.url));
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
async function freePort() {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  return port;
}

// A "destination" that accepts TCP and never greets: deliveries wait, the queue stays put.
const holding = new Set();
const hold = createServer((s) => {
  holding.add(s);
  s.on('error', () => {});
  s.on('close', () => holding.delete(s));
});
const holdPort = await listen(hold);
const smtpPort = await freePort();
const httpPort = await freePort();

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-bench-writer-'));
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
    http: { listen: `127.0.0.1:${httpPort}` },
  }),
);

const child = spawn(process.execPath, ['bin/ferry', 'start'], {
  cwd: ROOT,
  env: { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_CONFIG: configFile, FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${smtpPort}` },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
process.on('uncaughtException', (err) => {
  console.error(err, '\nrelay log:', logTail);
  child.kill('SIGKILL');
  process.exit(1);
});
let logTail = '';
child.stdout.on('data', (d) => (logTail = (logTail + d.toString()).slice(-4000)));

for (let i = 0; ; i++) {
  if (i > 600) throw new Error(`the relay did not start; log: ${logTail}`);
  const ok = await new Promise((resolve) => {
    const s = connect(smtpPort, '127.0.0.1');
    s.once('data', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 100));
}

/** The relay's event-loop delay p99 since the last scrape, in ms (prom-client resets its monitor per scrape). */
async function eventLoopP99() {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await res.text();
  const m = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text);
  const max = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return { p99: m ? Number(m[1]) * 1000 : NaN, max: max ? Number(max[1]) * 1000 : NaN };
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
const ids = new Set();
let next = 0;
let failures = 0;

async function send(w, i) {
  w.s.write(`MAIL FROM:<bench@example.com>\r\nRCPT TO:<rcpt${i}@example.net>\r\nDATA\r\n`);
  const [mail, rcpt, dataReply] = await w.read(3);
  if (!mail.startsWith('250') || !rcpt.startsWith('250') || !dataReply.startsWith('354')) {
    failures++;
    if (dataReply.startsWith('354')) w.s.write('.\r\n'), await w.read(1);
    return;
  }
  const t1 = performance.now();
  w.s.write(body(i));
  const [reply] = await w.read(1);
  const m = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply);
  if (!m) return void failures++;
  latencies.push(performance.now() - t1);
  ids.add(m[1]);
}

async function worker() {
  if (MODE === 'reused') {
    const w = await session();
    for (;;) {
      deadline();
      const i = next++;
      if (i >= N) break;
      await send(w, i);
    }
    w.s.end('QUIT\r\n');
    return;
  }
  for (;;) {
    deadline();
    const i = next++;
    if (i >= N) break;
    const w = await session();
    await send(w, i);
    w.s.write('QUIT\r\n');
    await w.read(1).catch(() => undefined);
    w.s.destroy();
  }
}

// Warm-up (JIT, page cache): 200 messages over one session, not counted.
{
  const w = await session();
  for (let i = 0; i < 200; i++) {
    w.s.write(`MAIL FROM:<bench@example.com>\r\nRCPT TO:<warm${i}@example.net>\r\nDATA\r\n`);
    await w.read(3);
    w.s.write(body(i));
    await w.read(1);
  }
  w.s.end('QUIT\r\n');
}

await eventLoopP99(); // resets the relay's monitor: the next reading covers the run only
const load0 = loadavg()[0];
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, () => worker()));
const seconds = (performance.now() - t0) / 1000;
const eld = await eventLoopP99();
const load1 = loadavg()[0];

child.kill('SIGTERM');
const exit = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 30_000))]);
if (!exit) child.kill('SIGKILL');
for (const s of holding) s.destroy();
hold.close();
rmSync(dataDir, { recursive: true, force: true });

const pct = (arr, p) => {
  const s = [...arr].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
console.log(`writer bench: ${N} × ${body(0).length - 3} B, ${C} clients, ${MODE === 'new' ? 'a new connection per message' : 'reused sessions (PIPELINING)'}; relay ${ROOT}`);
console.log(`  accepted          ${ids.size} (failures ${failures}) in ${seconds.toFixed(2)} s: ${(ids.size / seconds).toFixed(0)} accepted/s`);
console.log(`  time to 250       after the final dot: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);
console.log(`  event-loop delay  SMTP thread p99 ${eld.p99.toFixed(1)} ms, max ${eld.max.toFixed(1)} ms (over the run)`);
console.log(`  load average      ${load0.toFixed(1)} → ${load1.toFixed(1)} (shared 2-core machine)`);
if (failures) process.exitCode = 1;
