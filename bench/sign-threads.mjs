#!/usr/bin/env node
// DKIM signing on the main thread against the signing threads (sign.threads): how much of the
// main thread's CPU one signed 100 KB message costs, all threads' CPU (process.cpuUsage: signing
// threads, GC helpers), and messages signed per second.
// Main-thread CPU is read from /proc/self/task/<pid>/stat (the main thread's own utime+stime),
// so it is not muddied by the signing threads or by other processes on a busy machine.
//
//   npm run build && node bench/sign-threads.mjs [--messages 2000] [--size 102400] [--threads 1] [--concurrency 20]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createKeySource, generateDkimKey, writePrivateKey } from '../dist/sign/keys.js';
import { createSigner } from '../dist/sign/signer.js';
import { createSignPool } from '../dist/sign/pool.js';

const { values: a } = parseArgs({ options: { messages: { type: 'string', default: '2000' }, size: { type: 'string', default: '102400' }, threads: { type: 'string', default: '1' }, concurrency: { type: 'string', default: '20' } } });
const N = Number(a.messages);
const SIZE = Number(a.size);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-signthreads-'));
const key = generateDkimKey('rsa', 2048);
const entries = [{ domain: 'source.test', selector: 'bench', keyFile: writePrivateKey(dir, 'source.test', 'bench', key.privateKeyPem) }];
const keys = createKeySource(() => entries);
const headers = Buffer.from('From: app@source.test\r\nTo: r@dest.test\r\nSubject: bench\r\nDate: Thu, 15 Jan 2026 10:00:00 +0000\r\nMessage-ID: <b@source.test>\r\n\r\n');
const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
const body = Buffer.from(line.repeat(Math.ceil(SIZE / line.length)));
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const TICK_MS = 10; // CLK_TCK 100
function mainThreadCpuMs() {
  const s = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

async function run(label, signer) {
  // warm-up (JIT, thread start)
  await Promise.all(Array.from({ length: 20 }, () => signer.sign('source.test', { headers, inline: body, file: null })));
  const cpu0 = mainThreadCpuMs();
  const all0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(a.concurrency) }, async () => {
      while (next++ < N) {
        // a fresh copy each time, as the relay reads each message's row fresh: hashing one hot
        // buffer over and over would flatter signing on the calling thread
        const r = await signer.sign('source.test', { headers, inline: Buffer.from(body), file: null });
        if (!r) throw new Error('not signed');
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = mainThreadCpuMs() - cpu0;
  const all = process.cpuUsage(all0);
  console.log(
    `${label.padEnd(34)} ${(N / (ms / 1000)).toFixed(0).padStart(6)} msgs/s   main-thread CPU ${(cpu / N).toFixed(3)} ms per message, all threads ${((all.user + all.system) / 1000 / N).toFixed(3)}`,
  );
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`${N} x ${SIZE} B, RSA-2048, relaxed/relaxed; load average ${load}`);
await run('main thread (sign.threads 0)', createSigner({ keys }));
const pool = createSignPool({ threads: Number(a.threads), logger: silent });
await run(`signing threads (sign.threads ${a.threads})`, createSigner({ keys, offload: pool }));
await pool.close();
rmSync(dir, { recursive: true, force: true });
