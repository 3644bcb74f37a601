// Preloaded into `ferry start` by the benchmarks (node --import ./bench/loop-delay-hook.mjs ...):
// measures the main (SMTP) thread's event-loop delay with perf_hooks.monitorEventLoopDelay and
// its CPU time, and writes them as JSON to $FERRY_BENCH_LOOP_FILE every 250 ms. SIGUSR2 starts
// a new window (the benchmark sends it when the load starts). Nothing here changes Ferry; without
// FERRY_BENCH_LOOP_FILE it does nothing; in worker threads (which inherit --import) it only names
// the thread (below).
import { mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.FERRY_BENCH_LOOP_FILE;
// A worker thread says which it is (bench/lib/thread-cpu.mjs): its Linux TID and entry file.
if (file && !isMainThread) {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop();
    mkdirSync(`${file}.threads`, { recursive: true });
    writeFileSync(`${file}.threads/${tid}`, basename(process.argv[1] ?? 'unknown'));
  } catch {
    // not Linux: no per-thread figures
  }
}
// Worker threads inherit --import: only the main (SMTP) thread is measured and writes the file.
if (file && isMainThread) {
  // The histogram records the whole timer interval; the delay is what exceeds the resolution.
  const RESOLUTION_MS = 5;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  let since = process.cpuUsage();
  let windowStart = performance.now();
  let elu = performance.eventLoopUtilization();
  const write = () => {
    const cpu = process.cpuUsage(since);
    const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    writeFileSync(
      file,
      JSON.stringify({
        windowMs: performance.now() - windowStart,
        p50Ms: ms(h.percentile(50)),
        p99Ms: ms(h.percentile(99)),
        maxMs: ms(h.max),
        // the process (every thread): user+system
        processCpuMs: (cpu.user + cpu.system) / 1000,
        // the main thread alone: what the SMTP loop itself spent (Node 20: performance.eventLoopUtilization says how busy)
        mainThreadElu: performance.eventLoopUtilization(elu).utilization,
      }),
    );
  };
  process.on('SIGUSR2', () => {
    h.reset();
    since = process.cpuUsage();
    windowStart = performance.now();
    elu = performance.eventLoopUtilization();
  });
  setInterval(write, 250).unref();
}
