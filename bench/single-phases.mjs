#!/usr/bin/env node
// Where the time of ONE message over a new connection goes (issue 13's "application's blocking
// send" target: connect -> 220 -> EHLO -> MAIL -> RCPT -> DATA -> dot -> 250 -> QUIT, p50 <= 5 ms).
// A single client sends N messages one after another, each over its own connection, and times
// every step; Ferry (`ferry start`, a child process, greeting pause 0 for the relay networks) runs
// in up to four variants so each step's cost can be attributed:
//
//   disk+deliver   the real thing: data dir on disk (fsync), deliveries go to smtp-sink
//   disk+hold      deliveries wait on a destination that never greets: no delivery work (claim,
//                  outbound session, fate write) runs on the relay while the next message comes in
//   shm+deliver    data dir on tmpfs (/dev/shm): every fsync is free
//   shm+hold       neither fsync nor delivery work: what is left is the relay's own per-step cost
//
// It also prints the raw fdatasync time of the disk the data dir is on (the floor under dot->250),
// the SMTP thread's event-loop delay (bench/loop-delay-hook.mjs) and the load average (the machine
// is shared: read the differences between variants, not the absolute figures).
//
//   npm run build && node bench/single-phases.mjs [--messages 200] [--variants disk+deliver,disk+hold,shm+deliver,shm+hold] [--dist DIR]
//   (--dist: another build, e.g. a copy of dist/ made before a change, to compare back to back)
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuByRole, formatByRole, threadRoles, threadSnapshot } from './lib/thread-cpu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '200' },
    variants: { type: 'string', default: 'disk+deliver,disk+hold,shm+deliver,shm+hold' },
    size: { type: 'string', default: '4096' },
    // messages sent (not measured) after start-up before the measured ones: how the figures
    // depend on how warm the relay's code is (a fresh relay runs interpreted/baseline code)
    warmup: { type: 'string', default: '20' },
    dist: { type: 'string', default: join(root, 'dist') },
    // extra Node options for Ferry's process, space-separated: --node-args="--cpu-prof --cpu-prof-dir=tmp/prof"
    'node-args': { type: 'string', default: '' },
    // perf record (on-CPU samples) of Ferry's SMTP thread during the measured messages, to
    // tmp/perf/single-<variant>.data: `node bench/perf-groups.mjs FILE --top 30`
    perf: { type: 'boolean', default: false },
  },
});
const N = Number(opts.messages);
const SIZE = Number(opts.size);
const WARMUP = Number(opts.warmup);
const VARIANTS = opts.variants.split(',');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (arr, p) => {
  const s = [...arr].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

function fdatasyncP50(dir) {
  const file = join(dir, 'fsync-probe');
  const fd = openSync(file, 'w');
  const times = [];
  try {
    for (let i = 0; i < 30; i++) {
      writeSync(fd, Buffer.alloc(4096), 0, 4096, (i % 4) * 4096);
      const t = performance.now();
      fdatasyncSync(fd);
      times.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
    unlinkSync(file);
  }
  return pct(times, 50);
}

async function freePort(host = '127.0.0.1') {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, host, r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

async function waitGreeting(port) {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('data', (d) => (s.end('QUIT\r\n'), resolve(d.toString().startsWith('220'))));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing greets on ${port}`);
}

const STEPS = ['connect', '220', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'dot→250', 'QUIT→221'];
function sendOne(port, n, body) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    const script = ['EHLO app.source.test', 'MAIL FROM:<bench@source.test>', `RCPT TO:<r${n}@dest.test>`, 'DATA', null, 'QUIT'];
    let step = -1;
    let buf = '';
    let last = t0;
    const steps = [];
    const timer = setTimeout(() => (s.destroy(), reject(new Error('no answer within 10 s'))), 10_000);
    s.once('connect', () => {
      const now = performance.now();
      steps.push(now - last);
      last = now;
    });
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === '-') continue;
        if (line[0] !== '2' && line[0] !== '3') return clearTimeout(timer), s.destroy(), reject(new Error(`step ${step}: ${line}`));
        step++;
        const now = performance.now();
        steps.push(now - last);
        last = now;
        if (step === script.length) return clearTimeout(timer), s.destroy(), resolve({ ms: now - t0, steps });
        s.write(script[step] === null ? `${body}.\r\n` : `${script[step]}\r\n`);
      }
    });
  });
}

const hook = join(root, 'bench/loop-delay-hook.mjs');

/** utime+stime in ms of Ferry's SMTP (main) thread and of the whole process (/proc; 10 ms ticks). */
function cpuMs(pid) {
  const fields = (path) => {
    const t = readFileSync(path, 'utf8');
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  return { main: fields(`/proc/${pid}/task/${pid}/stat`), all: fields(`/proc/${pid}/stat`) };
}

/** ms the SMTP (main) thread spent runnable but waiting for a CPU (/proc schedstat, ns). */
function runQueueMs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return NaN;
  }
}

/** perf record of one thread (the main thread's TID is the PID) until stop(). */
function startPerf(tid, variant) {
  const dir = join(root, 'tmp', 'perf');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `single-${variant.replace('+', '-')}.data`);
  const p = spawn('perf', ['record', '-q', '-F', '997', '-g', '-t', String(tid), '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    async stop() {
      p.kill('SIGINT');
      await Promise.race([new Promise((r) => p.once('exit', r)), sleep(30_000)]);
      console.error(`perf samples of the SMTP thread: ${out}`);
    },
  };
}
async function runVariant(variant, sinkPort, holdPort) {
  const [where, delivery] = variant.split('+');
  const base = where === 'shm' ? '/dev/shm' : tmpdir();
  if (where === 'shm' && !existsSync('/dev/shm')) throw new Error('/dev/shm missing');
  const dir = mkdtempSync(join(base, 'ferry-bench-single-'));
  const port = await freePort();
  const config = join(dir, 'ferry.json');
  const loopFile = join(dir, 'loop.json');
  const routeTo = delivery === 'hold' ? `127.0.0.1:${holdPort}` : `127.0.0.2:${sinkPort}`;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    config,
    JSON.stringify({
      hostname: 'ferry.bench.test',
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      smtp: { listen: `127.0.0.1:${port}` },
      routes: { '*': routeTo },
      dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
      dmarc: { mode: 'off' },
      delivery: { allowPrivateMx: true, greetingTimeoutMs: 3_600_000, connectTimeoutMs: 3_600_000 },
      http: { listen: null },
    }),
  );
  const child = spawn(process.execPath, [...opts['node-args'].split(' ').filter(Boolean), ...(opts.perf ? ['--perf-basic-prof'] : []), '--import', hook, join(opts.dist, 'admin/entry.js'), 'start'], {
    env: { ...process.env, FERRY_CONFIG: config, FERRY_BENCH_LOOP_FILE: loopFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const spawnedAt = performance.now();
    await waitGreeting(port);
    const startMs = performance.now() - spawnedAt;
    const body = `From: bench@source.test\r\nTo: r@dest.test\r\nSubject: latency\r\n\r\n${`${'x'.repeat(76)}\r\n`.repeat(Math.ceil(SIZE / 78))}`;
    for (let i = 0; i < WARMUP; i++) await sendOne(port, -i - 1, body); // warm-up
    await sleep(200);
    child.kill('SIGUSR2'); // the loop-delay window starts now
    const loadBefore = load();
    const perf = opts.perf ? startPerf(child.pid, variant) : null;
    const cpu0 = cpuMs(child.pid);
    const threads0 = threadSnapshot(child.pid);
    const wait0 = runQueueMs(child.pid);
    const runs = [];
    for (let i = 0; i < N; i++) runs.push(await sendOne(port, i, body));
    const cpu1 = cpuMs(child.pid);
    const byThread = formatByRole(cpuByRole(child.pid, threads0, threadSnapshot(child.pid), threadRoles(loopFile), N));
    const waitMs = (runQueueMs(child.pid) - wait0) / N;
    if (perf) await perf.stop();
    child.kill('SIGWINCH'); // the hook writes its figures now (and once a second)
    await sleep(400);
    const loop = JSON.parse(readFileSync(loopFile, 'utf8'));
    return { variant, startMs, runs, loop, loadBefore, loadAfter: load(), fsyncP50: fdatasyncP50(dir), cpuMain: (cpu1.main - cpu0.main) / N, byThread, waitMs, cpuOther: (cpu1.all - cpu1.main - (cpu0.all - cpu0.main)) / N };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

// smtp-sink (Postfix's test sink) when installed, else a minimal Node one.
const sinkPort = await freePort('127.0.0.2');
let sink;
const haveSink = (() => {
  try {
    return spawn('sh', ['-c', 'command -v smtp-sink']).pid && existsSync('/usr/sbin/smtp-sink');
  } catch {
    return false;
  }
})();
if (haveSink) sink = spawn('smtp-sink', ['-u', 'postfix', `127.0.0.2:${sinkPort}`, '1000'], { stdio: 'ignore' });
else {
  const server = net.createServer((s) => {
    s.write('220 sink\r\n');
    let inData = false;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') (inData = false), s.write('250 ok\r\n');
        } else if (/^DATA/i.test(line)) (inData = true), s.write('354 go\r\n');
        else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
        else if (/^EHLO/i.test(line)) s.write('250-sink\r\n250 PIPELINING\r\n');
        else s.write('250 ok\r\n');
      }
    });
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(sinkPort, '127.0.0.2', r));
  sink = { kill: () => server.close() };
}
const holding = new Set();
const hold = net.createServer((s) => (holding.add(s), s.on('error', () => {}), s.on('close', () => holding.delete(s))));
await new Promise((r) => hold.listen(0, '127.0.0.1', r));
await sleep(300);

const results = [];
try {
  for (const v of VARIANTS) {
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${v}: ${N} messages (load average ${load()})`);
    results.push(await runVariant(v, sinkPort, hold.address().port));
  }
} finally {
  sink.kill('SIGTERM');
  for (const s of holding) s.destroy();
  hold.close();
}

console.log(`\n${new Date().toISOString()}  one message per new connection, one client, ${N} messages of ${SIZE} B per variant after ${WARMUP} unmeasured; Ferry from ${opts.dist}`);
console.log(`| variant | ${STEPS.map((s) => `${s} p50`).join(' | ')} | dot→250 p90 / p99 | connect→221 p50 / p99 | target p50 ≤ 5 ms | SMTP thread loop delay p99 / busy | CPU ms per message: SMTP thread / other threads | SMTP thread waited for a CPU, ms per message | fdatasync p50 (ms) | start → first 220 (s) | load average |`);
console.log(`| --- | ${STEPS.map(() => '---').join(' | ')} | --- | --- | --- | --- | --- | --- | --- | --- |`);
for (const r of results) {
  const stepP50 = STEPS.map((_, i) => pct(r.runs.map((x) => x.steps[i]), 50).toFixed(2));
  const total = r.runs.map((x) => x.ms);
  const p50 = pct(total, 50);
  const dot = r.runs.map((x) => x.steps[STEPS.indexOf('dot→250')]);
  console.log(
    `| ${r.variant} | ${stepP50.join(' | ')} | ${pct(dot, 90).toFixed(2)} / ${pct(dot, 99).toFixed(2)} | ${p50.toFixed(2)} / ${pct(total, 99).toFixed(1)} | ${p50 <= 5 ? 'met' : 'NOT met'} | ${r.loop.p99Ms.toFixed(1)} ms / ${(r.loop.mainThreadElu * 100).toFixed(0)} % | ${r.cpuMain.toFixed(2)} / ${r.cpuOther.toFixed(2)} | ${r.waitMs.toFixed(2)} | ${r.fsyncP50.toFixed(2)} | ${(r.startMs / 1000).toFixed(1)} | ${r.loadBefore} → ${r.loadAfter} |`,
  );
}
for (const r of results) console.log(`${r.variant}: CPU ms per message by thread (kernel in brackets): ${r.byThread}`);
