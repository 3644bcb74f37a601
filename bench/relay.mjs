#!/usr/bin/env node
// End-to-end relay benchmark: client --SMTP--> Ferry (child process, `node bin/ferry start`)
// --SMTP--> sink MX (smtp-server in this process), all on loopback.
//
//   node bench/relay.mjs                       5,000 messages of 4 KB over 20 client sessions
//   node bench/relay.mjs --messages 20000 --size 4096 --sessions 20
//   node bench/relay.mjs --mode large          2,000 queued messages of 10 MB, then delivered
//   node bench/relay.mjs --mode large --messages 200 --size 10485760
//   node bench/relay.mjs --cpu-prof            Ferry runs with --cpu-prof (profiles in tmp/prof)
//
// Prints delivered messages per second, p50/p99 from the client's 250 to the sink's receipt
// (each message carries a unique X-Bench-Id header; the sink timestamps the end of its DATA),
// and Ferry's peak RSS (VmHWM from /proc). Needs `npm run build`. Not a pass/fail test.
//
// Large mode queues first, then delivers: the sink refuses connections (421) while the client
// sends, so every recipient is deferred; then the sink opens and `ferry queue retry --all` (run
// against the live relay) makes them due — the scheduler notices within its 5 s idle wake.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statfsSync } from 'node:fs';
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
    mode: { type: 'string', default: 'small' },
    messages: { type: 'string' },
    size: { type: 'string' },
    sessions: { type: 'string', default: '20' },
    'time-limit-s': { type: 'string', default: '900' },
    'cpu-prof': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // another build's CLI entry (e.g. /tmp/x/dist/admin/entry.js) to compare a change
    entry: { type: 'string' },
  },
});
const LARGE = args.mode === 'large';
const N = Number(args.messages ?? (LARGE ? 2000 : 5000));
const SIZE = Number(args.size ?? (LARGE ? 10 * 1024 * 1024 : 4096));
const SESSIONS = Math.min(Number(args.sessions), N);
const TIME_LIMIT_MS = Number(args['time-limit-s']) * 1000;
const root = fileURLToPath(new URL('..', import.meta.url));
const FERRY = args.entry ?? join(root, 'bin', 'ferry');

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const cleanup = () => {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
};

if (LARGE) {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const need = N * SIZE * 1.1;
  if (free - need < 10 * 1024 ** 3) {
    console.error(`not enough disk: ${(free / 1024 ** 3).toFixed(1)} GB free in ${dir}, the run needs ${(need / 1024 ** 3).toFixed(1)} GB (+10 GB margin): use --messages`);
    process.exit(1);
  }
}

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

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---- the sink MX ----------------------------------------------------------------------------
const received = new Map(); // bench id -> performance.now() at end of DATA
let sinkOpen = !LARGE;
let sinkBytes = 0;
let sinkRefused = 0;
let onReceived = () => undefined;
const sink = new SMTPServer({
  name: 'sink.bench',
  logger: false,
  disableReverseLookup: true,
  hideSTARTTLS: true,
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: 64 * 1024 * 1024,
  maxClients: 1000,
  onConnect(_s, cb) {
    if (sinkOpen) return cb();
    sinkRefused++;
    const e = new Error('4.3.2 not yet, bench is queueing');
    e.responseCode = 421;
    cb(e);
  },
  onData(stream, _session, cb) {
    let head = '';
    stream.on('data', (c) => {
      sinkBytes += c.length;
      if (head.length < 4096) head += c.toString('latin1', 0, Math.min(c.length, 4096));
    });
    stream.on('end', () => {
      const m = /X-Bench-Id: (\d+)/.exec(head);
      if (m && !received.has(m[1])) {
        received.set(m[1], performance.now());
        onReceived();
      }
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
    dataDir: join(dir, 'data'),
    hostname: 'bench.ferry.test',
    log: { level: 'warn' },
    dmarc: { mode: 'off' },
    smtp: { listen: `127.0.0.1:${smtpPort}`, maxMessageSizeBytes: Math.max(SIZE * 2, 1024 * 1024) },
    routes: { '*': `127.0.0.2:${sinkPort}` },
    delivery: { allowPrivateMx: true },
  }),
);
const nodeArgs = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'tmp', 'prof')}`] : [];
const ferry = spawn(process.execPath, [...nodeArgs, FERRY, 'start', '-c', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
let ferryExited = false;
ferry.once('exit', () => (ferryExited = true));

function procStatus(field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${ferry.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
/** Ferry's CPU time so far (user + system), in ms: less sensitive to a busy machine than wall time. */
function cpuMs() {
  try {
    const fields = readFileSync(`/proc/${ferry.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in 1/100 s
  } catch {
    return NaN;
  }
}
let rssSamples = 0;
let rssMax = 0;
const sampler = setInterval(() => {
  const v = procStatus('VmRSS');
  if (v) {
    rssMax = Math.max(rssMax, v);
    rssSamples++;
  }
}, 100);

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
await waitForPort(smtpPort, '127.0.0.1', 20_000);

// ---- the client -----------------------------------------------------------------------------
const accepted = new Map(); // bench id -> performance.now() at the 250
const filler = Buffer.alloc(SIZE, 'x'.repeat(76) + '\r\n');

function messageFor(id) {
  const head = Buffer.from(
    `X-Bench-Id: ${id}\r\nFrom: bench@ferry.test\r\nTo: sink${id % 100}@sink.test\r\nSubject: bench ${id}\r\n` +
      `Message-ID: <bench-${id}@ferry.test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n`,
  );
  // the body: CRLF lines of 76 x's, cut to SIZE in total, ending with CRLF
  const bodyLen = Math.max(2, SIZE - head.length);
  const body = Buffer.from(filler.subarray(0, bodyLen));
  body[bodyLen - 2] = 13;
  body[bodyLen - 1] = 10;
  return Buffer.concat([head, body]);
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

function sendOne(c, id) {
  const raw = messageFor(id);
  return new Promise((resolve, reject) => {
    c.send({ from: 'bench@ferry.test', to: [`sink${id % 100}@sink.test`], size: raw.length }, raw, (err, info) => {
      if (err) return reject(err);
      accepted.set(String(id), performance.now());
      resolve(info);
    });
  });
}

const cpuAtStart = cpuMs();
const startedAt = performance.now();
const deadline = Date.now() + TIME_LIMIT_MS;
let next = 0;
let sendErrors = 0;
async function session() {
  const c = await connect();
  while (next < N && Date.now() < deadline) {
    const id = next++;
    try {
      await sendOne(c, id);
    } catch (err) {
      sendErrors++;
      if (sendErrors <= 3) console.error(`send ${id}: ${err.message}`);
      if (sendErrors > 50) throw new Error('too many send errors');
    }
  }
  c.quit();
}
await Promise.all(Array.from({ length: SESSIONS }, session));
const sentAt = performance.now();
const intakeSec = (sentAt - startedAt) / 1000;

function ferryCli(...argv) {
  return execFileSync(process.execPath, [FERRY, ...argv, '-c', configFile], { encoding: 'utf8' });
}

let deliverFrom = startedAt;
if (LARGE) {
  // everything is queued (and deferred: the sink refused): open the sink and retry all
  const waitDeferred = Date.now() + 120_000;
  for (;;) {
    const list = JSON.parse(ferryCli('queue', 'list', '--json'));
    const queuedOrInFlight = list.reduce((n, d) => n + d.queued + d.inFlight, 0);
    if (queuedOrInFlight === 0 || Date.now() > waitDeferred) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  sinkOpen = true;
  deliverFrom = performance.now();
  process.stdout.write(`queued: ${ferryCli('queue', 'retry', '--all').trim()}\n`);
}

// wait until the sink has everything accepted (bounded in time)
await new Promise((resolve) => {
  const done = () => received.size >= accepted.size;
  if (done()) return resolve();
  onReceived = () => {
    if (done()) resolve();
  };
  const poll = setInterval(() => {
    if (done() || Date.now() > deadline) {
      clearInterval(poll);
      resolve();
    }
  }, 200);
});
const doneAt = performance.now();
const peak = procStatus('VmHWM');
const cpuUsed = cpuMs() - cpuAtStart;
clearInterval(sampler);

const latencies = [];
for (const [id, at] of accepted) {
  const got = received.get(id);
  if (got !== undefined) latencies.push(got - at);
}
latencies.sort((a, b) => a - b);
const delivered = received.size;
const deliverSec = (doneAt - deliverFrom) / 1000;
const mb = (n) => `${(n / 1024 / 1024).toFixed(0)} MB`;

console.log(`mode            ${LARGE ? 'large (queue first, then deliver)' : 'small (end to end)'}`);
console.log(`messages        ${N} x ${SIZE} bytes over ${SESSIONS} client sessions`);
console.log(`accepted (250)  ${accepted.size} in ${intakeSec.toFixed(2)} s = ${(accepted.size / intakeSec).toFixed(0)} msg/s${sendErrors ? `, ${sendErrors} send errors` : ''}`);
console.log(`delivered       ${delivered} in ${deliverSec.toFixed(2)} s = ${(delivered / deliverSec).toFixed(0)} msg/s${LARGE ? ` (${((sinkBytes / 1024 / 1024) / deliverSec).toFixed(0)} MB/s)` : ' end to end'}`);
if (!LARGE) {
  console.log(`250 -> sink     p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`);
} else {
  console.log(`sink refusals   ${sinkRefused} connections refused (421) while queueing`);
}
console.log(`ferry CPU       ${(cpuUsed / 1000).toFixed(1)} s user+sys = ${(cpuUsed / Math.max(1, delivered)).toFixed(2)} ms per delivered message (load average now ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
console.log(`ferry peak RSS  ${peak ? mb(peak) : '?'} (VmHWM); sampled max ${mb(rssMax)} over ${rssSamples} samples`);
if (delivered < accepted.size) console.log(`WARNING: ${accepted.size - delivered} accepted messages not delivered within the time limit`);

// graceful stop, bounded
ferry.kill('SIGTERM');
await Promise.race([new Promise((r) => ferry.once('exit', r)), new Promise((r) => setTimeout(r, 30_000))]);
if (!ferryExited) ferry.kill('SIGKILL');
await new Promise((r) => sink.close(r));
cleanup();
