#!/usr/bin/env node
// CPU of the SMTP thread's share of one accepted message outside smtp-server (issue 13, "where
// the time goes"): intake.receive (canonicalise, header facts, Received, the accept call) with a
// store that answers at once, and readHeaderFacts alone, in µs per message. Runs in this process
// (no sockets, no writer thread): the figures are the intake's own code, cold (the first
// messages, as in a fresh relay's single-client run) and warm (after thousands).
//
//   npm run build && node bench/intake-cpu.mjs [--messages 20000] [--dist DIR] [--from '<bench@source.test>']
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    dist: { type: 'string' },
    size: { type: 'string', default: '4096' },
    from: { type: 'string', default: 'bench@source.test' },
  },
});
const N = Number(opts.messages);
const dist = opts.dist ? resolve(opts.dist) : fileURLToPath(new URL('../dist', import.meta.url));
const load = async (p) => import(pathToFileURL(join(dist, p)).href);
const { createIntake } = await load('receive/intake.js');
const { readHeaderFacts } = await load('receive/headers.js');
const { createSpool } = await load('spool/spool.js');

const dir = mkdtempSync(join(tmpdir(), 'ferry-intake-cpu-'));
const spool = createSpool({ dir: join(dir, 'spool'), inlineMaxBytes: 128 * 1024 });
let n = 0;
const intake = createIntake({
  spool,
  store: { queue: { accept: async () => [] } },
  clock: { now: () => Date.now() },
  newId: () => `ID${(n++).toString(36).padStart(12, '0')}`,
  hostname: 'ferry.bench.test',
  maxHeaderBytes: 1024 * 1024,
  maxMessageSizeBytes: 50 * 1024 * 1024,
  checks: [],
  logger: { warn() {}, error() {}, info() {}, debug() {} },
});
const SIZE = Number(opts.size);
const headers = `From: ${opts.from}\r\nTo: <r@dest.test>\r\nDate: Mon,  7 Dec 2026 12:00:00 +0000\r\nMessage-Id: <${Date.now()}.1@source.test>\r\nSubject: bench\r\n\r\n`;
const body = Buffer.from(headers + `${'x'.repeat(76)}\r\n`.repeat(Math.ceil(SIZE / 78)));
const session = () => ({
  sessionId: 's', clientIp: '127.0.0.1', clientHostname: null, helo: 'source.test', tls: null, username: null, allowedFromDomains: null,
  sender: 'bench@source.test', recipients: [{ address: 'r@dest.test', domain: 'dest.test', status: 'queued', reason: null, category: null, dsnNotify: null, dsnOrcpt: null }],
  smtputf8: false, protocol: 'ESMTP', dsnRet: null, dsnEnvid: null, oneClickUnsubscribe: false, requireTls: false,
});
/** This thread's CPU time in ms (utime+stime of the main thread from /proc; 10 ms ticks): load-proof where wall time is not. */
const threadCpuMs = () => {
  const t = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)];

async function phase(count) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await intake.receive(session(), Readable.from([Buffer.from(body)]));
    times.push((performance.now() - t) * 1000);
  }
  return times;
}
const cold = await phase(300);
const warm0 = performance.now();
const cpu0 = threadCpuMs();
await phase(N);
const warmCpu = ((threadCpuMs() - cpu0) * 1000) / N;
const warmAvg = ((performance.now() - warm0) * 1000) / N;
const headerBlock = body.subarray(0, body.indexOf('\r\n\r\n') + 4);
for (let i = 0; i < 20000; i++) readHeaderFacts(headerBlock);
const h0 = performance.now();
for (let i = 0; i < 50000; i++) readHeaderFacts(headerBlock);
const facts = ((performance.now() - h0) * 1000) / 50000;
console.log(`intake.receive, ${SIZE} B message, From: ${opts.from}; ${dist}; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`  cold (first 300): p50 ${pct(cold, 50).toFixed(1)} µs, mean ${(cold.reduce((a, b) => a + b, 0) / cold.length).toFixed(1)} µs`);
console.log(`  warm (${N} after): CPU ${warmCpu.toFixed(1)} µs per message (this thread, /proc), wall mean ${warmAvg.toFixed(1)} µs`);
console.log(`  readHeaderFacts alone (warm): ${facts.toFixed(2)} µs`);
rmSync(dir, { recursive: true, force: true });
