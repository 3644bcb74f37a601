#!/usr/bin/env node
// How long an accept's durable commit takes, seen from the calling thread (queue.accept called →
// promise resolved: hand-off, the writer's operations, COMMIT and its sync, the answer's
// wake-up), through the threaded SQLite engine on a fresh database on disk. Two shapes:
//
//   serial    one accept at a time, a pause between them (--gap-ms): an application's blocking
//             send, as bench/single-phases.mjs's dot→250
//   reused    --senders loops, each accepting again as soon as its last one resolved: the
//             writer always has work (group commit), as on reused connections under load
//
// Enough accepts (default 3,000 ≈ 60,000 WAL frames) to cross several WAL checkpoints, so the
// tail (p99, max) shows whether an accept pays for one. Builds are alternated round by round
// (--dist A,B,...) so that the machine's load drifts over all of them alike.
//
// --checkpoint-every 32,0: the store option checkpointEvery per run, each with every build (a
// build without the option runs once, as it is).
//
//   npm run build && node bench/commit-latency.mjs [--dist dist,/path/to/other/dist] [--accepts 3000] [--rounds 2] [--shapes serial,reused] [--senders 8] [--gap-ms 2] [--checkpoint-every 32,0]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writerBenchMessages } from './lib/bench-message.mjs';

const { values: opts } = parseArgs({
  options: {
    dist: { type: 'string', default: fileURLToPath(new URL('../dist', import.meta.url)) },
    accepts: { type: 'string', default: '3000' },
    size: { type: 'string', default: '4096' },
    rounds: { type: 'string', default: '2' },
    shapes: { type: 'string', default: 'serial,reused' },
    senders: { type: 'string', default: '8' },
    'gap-ms': { type: 'string', default: '2' },
    dir: { type: 'string', default: tmpdir() },
    'checkpoint-every': { type: 'string', default: '' },
  },
});
const N = Number(opts.accepts);
const SIZE = Number(opts.size);
const GAP = Number(opts['gap-ms']);
const SENDERS = Number(opts.senders);
const dists = opts.dist.split(',').map((d) => resolve(d));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const load = () => loadavg()[0].toFixed(1);

/** CPU ms (utime+stime, 10 ms ticks) of each thread of this process but the main one. */
function threadCpu() {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const t = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended
    }
  }
  return out;
}

const message = writerBenchMessages('C', SIZE);

async function run(dist, shape, checkpointEvery) {
  const { openThreadedSqliteStore } = await import(pathToFileURL(join(dist, 'store/sqlite/threaded.js')).href);
  const dir = mkdtempSync(join(opts.dir, 'ferry-bench-commit-'));
  const file = join(dir, 'ferry.db');
  const store = await openThreadedSqliteStore({ file, ...(checkpointEvery !== undefined ? { checkpointEvery } : {}) });
  const times = [];
  const load0 = load();
  try {
    for (let i = 0; i < 20; i++) await store.queue.accept([message()]); // warm-up
    const before = store.writerStats();
    const cpu0 = threadCpu();
    const t0 = performance.now();
    if (shape === 'serial') {
      for (let i = 0; i < N; i++) {
        const m = message();
        const t = performance.now();
        await store.queue.accept([m]);
        times.push(performance.now() - t);
        if (GAP > 0) await sleep(GAP);
      }
    } else {
      let left = N;
      await Promise.all(
        Array.from({ length: SENDERS }, async () => {
          while (left-- > 0) {
            const m = message();
            const t = performance.now();
            await store.queue.accept([m]);
            times.push(performance.now() - t);
          }
        }),
      );
    }
    const wall = performance.now() - t0;
    const cpu1 = threadCpu();
    // The writer is the busiest thread besides this one; the checkpointer (when there is one) the next.
    const busiest = [...cpu1].map(([tid, ms]) => ms - (cpu0.get(tid) ?? 0)).sort((a, b) => b - a);
    const after = store.writerStats();
    const commits = after.durableCommits - before.durableCommits;
    const ckpt = after.checkpoints === undefined ? '—' : `${after.checkpoints - before.checkpoints} / ${((after.checkpointMs - before.checkpointMs) / Math.max(1, after.checkpoints - before.checkpoints)).toFixed(1)} / ${after.checkpointFailures}`;
    return {
      times, wall, commits, ckpt, cpu: `${(busiest[0] / N).toFixed(3)} / ${((busiest[1] ?? 0) / N).toFixed(3)}`,
      perCommit: { exec: (after.execMs - before.execMs) / commits, commit: (after.commitMs - before.commitMs) / commits },
      walMB: statSync(`${file}-wal`, { throwIfNoEntry: false })?.size / 1e6, load: `${load0} → ${load()}`,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${new Date().toISOString()} ${N} accepts of ${SIZE} B per run on ${opts.dir}; serial gap ${GAP} ms, reused ${SENDERS} senders`);
console.log('| round | shape | build | checkpointEvery | accept p50 / p90 / p99 / max (ms) | accepts/s | durable commits | writer per commit: operations / COMMIT+sync (ms) | checkpointer: checkpoints / ms each / failed | CPU ms per accept: busiest thread (the writer) / next | WAL at end (MB) | load average |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const everies = opts['checkpoint-every'] ? opts['checkpoint-every'].split(',').map(Number) : [undefined];
const runs = [];
for (const dist of dists) {
  const knows = (await import(pathToFileURL(join(dist, 'store/sqlite/writer-protocol.js')).href)).CHECKPOINT_EVERY !== undefined;
  for (const e of knows ? everies : [undefined]) runs.push([dist, e]);
}
for (let r = 1; r <= Number(opts.rounds); r++) {
  for (const shape of opts.shapes.split(',')) {
    for (const [dist, every] of runs) {
      const x = await run(dist, shape, every);
      console.log(`| ${r} | ${shape} | ${dist} | ${every ?? 'default'} | ${[50, 90, 99].map((p) => pct(x.times, p).toFixed(2)).join(' / ')} / ${Math.max(...x.times).toFixed(1)} | ${((N * 1000) / x.wall).toFixed(0)} | ${x.commits} | ${x.perCommit.exec.toFixed(2)} / ${x.perCommit.commit.toFixed(2)} | ${x.ckpt} | ${x.cpu} | ${x.walMB?.toFixed(1)} | ${x.load} |`);
    }
  }
}
