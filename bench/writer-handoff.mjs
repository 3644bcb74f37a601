// The cost of the writer-thread hand-off (issue 13): N concurrent queue.accept of SIZE-byte messages
// through the threaded SQLite engine (writer thread, group commit) vs the same SQL work done on
// this thread by the in-process engine as ONE accept call of all N (one transaction: the floor
// without any hand-off), each on a fresh database in a temp dir.
// Prints wall time, this thread's CPU time (process.threadCpuUsage is not in Node 20, so the
// figure is this thread's share read from /proc/self/task/PID/stat), commits and fsyncs, and the
// event-loop delay p99 while the accepts run.
//
//   npm run build && node bench/writer-handoff.mjs [--accepts 2000] [--size 4096] [--rounds 3] [--dist DIR]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writerBenchMessages } from './lib/bench-message.mjs';

const { values: opts } = parseArgs({
  options: {
    accepts: { type: 'string', default: '2000' },
    size: { type: 'string', default: '4096' },
    rounds: { type: 'string', default: '3' },
    dist: { type: 'string' },
  },
});
const N = Number(opts.accepts);
const SIZE = Number(opts.size);
const ROUNDS = Number(opts.rounds);
const dist = opts.dist ? resolve(opts.dist) : fileURLToPath(new URL('../dist', import.meta.url));
const load = async (p) => import(pathToFileURL(join(dist, p)).href);
const { openThreadedSqliteStore } = await load('store/sqlite/threaded.js');
const { createInProcessSqliteStore } = await load('store/sqlite/engine.js');
const { openDatabase } = await load('store/db.js');

/** utime+stime of this (main) thread in ms. */
function mainThreadCpuMs() {
  const s = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const message = writerBenchMessages('H', SIZE);

async function run(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-handoff-'));
  const file = join(dir, 'ferry.db');
  let store;
  if (kind === 'threaded') store = await openThreadedSqliteStore({ file });
  else store = createInProcessSqliteStore(openDatabase({ file }));
  try {
    await store.queue.accept([message()]); // warm-up
    const batch = Array.from({ length: N }, message);
    const before = store.writerStats?.();
    const eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
    const cpu0 = mainThreadCpuMs();
    const t0 = performance.now();
    if (kind === 'threaded') await Promise.all(batch.map((m) => store.queue.accept([m])));
    else await store.queue.accept(batch); // the floor: all of them in one transaction on this thread
    const ms = performance.now() - t0;
    const cpu = mainThreadCpuMs() - cpu0;
    eld.disable();
    const after = store.writerStats?.();
    return {
      ms,
      cpu,
      commits: after ? after.commits - before.commits : 1,
      fsyncs: after ? after.durableCommits - before.durableCommits : 1,
      eldP99: eld.percentile(99) / 1e6,
      writer: after ? { exec: after.execMs - before.execMs, commit: after.commitMs - before.commitMs } : null,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${new Date().toISOString()} load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${N} concurrent accepts of ${SIZE} B, ${ROUNDS} rounds, from ${dist}`);
for (let r = 1; r <= ROUNDS; r++) {
  for (const kind of ['threaded', 'in-process']) {
    const x = await run(kind);
    console.log(
      `round ${r} ${kind.padEnd(10)}: ${x.ms.toFixed(0).padStart(5)} ms wall (${((x.ms * 1000) / N).toFixed(0)} µs/accept), main-thread CPU ${x.cpu.toFixed(0)} ms (${((x.cpu * 1000) / N).toFixed(0)} µs/accept), ${x.commits} commits / ${x.fsyncs} fsyncs, event-loop delay p99 ${x.eldP99.toFixed(1)} ms${x.writer ? `; writer thread: operations ${x.writer.exec.toFixed(0)} ms, COMMIT ${x.writer.commit.toFixed(0)} ms` : ''}`,
    );
  }
}
console.log(`load average after ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
