#!/usr/bin/env node
// 5,000 idle connections against `ferry start` (a child process), the figure; the test
// suite runs 2,000 in-process (test/abuse/idle-connections.test.ts).
//
//   npm run build && node bench/abuse-idle.mjs [--connections 5000] [--max-clients 1000] [--idle-ms 5000] [--dist DIR]
//
// One attacker address (127.0.0.66) opens the connections as fast as it can and never says a
// word; a well-behaved client on 127.0.0.9 sends a message every ~100 ms meanwhile and retries
// a refusal after 100 ms. Prints: how the connections were answered, Ferry's peak RSS, how long
// until Ferry held no connection, and the client's accept latency.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(opt('connections', '5000'));
const MAX_CLIENTS = Number(opt('max-clients', '1000'));
const IDLE_MS = Number(opt('idle-ms', '5000'));
const entry = join(opt('dist', join(root, 'dist')), 'admin/entry.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sink = new SMTPServer({ authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, onData: (s, _x, cb) => s.resume().on('end', () => cb()) });
await new Promise((r) => sink.listen(0, '127.0.0.2', r));
const freePort = async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
};
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'ferry-idle-'));
writeFileSync(
  join(dir, 'ferry.json'),
  JSON.stringify({
    hostname: 'idle.ferry.test',
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    smtp: { listen: `127.0.0.1:${port}`, maxClients: MAX_CLIENTS, idleTimeoutMs: IDLE_MS },
    routes: { '*': `127.0.0.2:${sink.server.address().port}` },
    dmarc: { mode: 'off' },
    delivery: { allowPrivateMx: true },
  }),
);
const child = spawn(process.execPath, [entry, 'start'], { env: { ...process.env, FERRY_CONFIG: join(dir, 'ferry.json') }, stdio: ['ignore', 'ignore', 'inherit'] });
const rssMb = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return NaN;
  }
};
const established = () => {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[1].endsWith(`:${hex}`) && f[2].startsWith('4200007F:') && f[3] === '01').length;
};
for (let i = 0; i < 300; i++) {
  const ok = await new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('data', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (ok) break;
  await sleep(100);
}
const rssIdle = rssMb();

// well-behaved client
const latencies = [];
let refusals = 0;
let failures = 0;
let probing = true;
const probe = (async () => {
  for (let n = 0; probing; n++) {
    const t0 = performance.now();
    for (;;) {
      const tr = nodemailer.createTransport({ host: '127.0.0.1', port, localAddress: '127.0.0.9', ignoreTLS: true, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10000 });
      try {
        await tr.sendMail({ from: 'app@client.test', to: `p${n}@dest.test`, subject: 'probe', text: 'hello' });
        latencies.push(performance.now() - t0);
        break;
      } catch {
        refusals++;
        if (performance.now() - t0 > 60_000) {
          failures++;
          break;
        }
        await sleep(100);
      } finally {
        tr.close();
      }
    }
    await sleep(100);
  }
})();

// attack
const t0 = Date.now();
const socks = [];
const first = new Map();
let closed = 0;
let peak = rssIdle;
let maxEst = 0;
for (let i = 0; i < N; i += 250) {
  await Promise.all(
    Array.from({ length: Math.min(250, N - i) }, () =>
      new Promise((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.66' });
        socks.push(s);
        s.on('error', () => undefined);
        s.once('data', (d) => first.set(s, d.toString('latin1').slice(0, 3)));
        s.once('close', () => closed++);
        s.once('connect', resolve);
        s.once('error', resolve);
      }),
    ),
  );
  peak = Math.max(peak, rssMb());
  maxEst = Math.max(maxEst, established());
}
const openedMs = Date.now() - t0;
let drainedMs = NaN;
while (Date.now() - t0 < IDLE_MS * 3 + 60_000) {
  peak = Math.max(peak, rssMb());
  const e = established();
  maxEst = Math.max(maxEst, e);
  if (e === 0 && Date.now() - t0 > IDLE_MS) {
    drainedMs = Date.now() - t0;
    break;
  }
  await sleep(200);
}
probing = false;
await probe;
const tally = {};
for (const s of socks) {
  const k = first.get(s) ?? 'none';
  tally[k] = (tally[k] ?? 0) + 1;
}
const sorted = latencies.sort((a, b) => a - b);
const p = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]?.toFixed(0);
console.log(`idle-connection flood: ${N} connections from 127.0.0.66, maxClients ${MAX_CLIENTS}, idleTimeoutMs ${IDLE_MS}`);
console.log(`  opened in ${openedMs} ms; first reply per connection: ${JSON.stringify(tally)} (none = never accepted by the kernel: listen backlog full)`);
console.log(`  most established at once (server side, kernel table): ${maxEst}; Ferry held none after ${drainedMs} ms; ${closed} closed by Ferry`);
console.log(`  Ferry RSS: ${rssIdle.toFixed(0)} MB idle, peak ${peak.toFixed(0)} MB`);
console.log(`  well-behaved client: ${latencies.length} accepted, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${sorted[sorted.length - 1]?.toFixed(0)} ms, ${refusals} refusals retried, ${failures} failed`);
for (const s of socks) s.destroy();
child.kill('SIGTERM');
await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
if (child.exitCode === null) child.kill('SIGKILL');
await new Promise((r) => sink.close(r));
rmSync(dir, { recursive: true, force: true });
