// Preloaded into `ferry start` by the benchmarks (node --import ./bench/loop-delay-hook.mjs ...):
// measures the main (SMTP) thread's event-loop delay with perf_hooks.monitorEventLoopDelay and
// its CPU time, and writes them as JSON to $FERRY_BENCH_LOOP_FILE every second and on SIGWINCH.
// SIGUSR2 starts a new window (the benchmark sends it when the load starts). Nothing here changes Ferry; without
// FERRY_BENCH_LOOP_FILE it does nothing; in worker threads (which inherit --import) it only names
// the thread (below).
//
// Also, per window, for what held the loop (load-independent where the delay is not):
//   gc      every V8 GC pause on this thread (PerformanceObserver 'gc'): count, total, p50/p99/max
//           by kind (scavenge = young generation, mark-compact = full), and the longest ones
//   stalls  a 5 ms timer that notes every time it fired 10+ ms late ("stall"): count and the
//           longest, each with its start (monotonic µs, the clock of a --cpu-prof profile, so
//           bench/loop-stalls.mjs can say what ran during it) and the GC time inside it
//   alloc   bytes this thread allocated on its JS heap (v8.GCProfiler: each GC's heap before it,
//           less the heap after the one before, plus the growth since the last). Buffers' memory
//           is not in it (outside the JS heap; see minor page faults per message instead)
import { mkdirSync, openSync, readSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';
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
  // performance.now() -> monotonic µs (hrtime; V8's profile timestamps use the same clock on Linux)
  const monoOffsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  const mono = (t) => Math.round(t * 1000 + monoOffsetUs);
  const KIND = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  let gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ at: e.startTime, ms: e.duration, kind: KIND[e.detail?.kind ?? e.kind] ?? String(e.detail?.kind ?? e.kind) });
  }).observe({ entryTypes: ['gc'] });
  const STALL_TICK_MS = 5;
  const STALL_MS = 10;
  let stalls = [];
  let last = performance.now();
  // This thread's time on a CPU and waiting for one (ns), from the kernel: a stall splits into
  // ran (the loop's own work: load-independent), runqueue (waiting for a CPU: the machine's load)
  // and blocked (asleep in a system call or on a lock: neither).
  let schedFd = null;
  try {
    schedFd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    // not Linux: no split
  }
  const schedBuf = Buffer.alloc(128);
  const sched = () => {
    if (schedFd === null) return null;
    const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
    const [run, wait] = schedBuf.toString('latin1', 0, n).split(' ');
    return { run: Number(run) / 1e6, wait: Number(wait) / 1e6 };
  };
  let lastSched = sched();
  let schedStart = lastSched;
  setInterval(() => {
    const now = performance.now();
    const s = sched();
    const late = now - last - STALL_TICK_MS;
    if (late >= STALL_MS) {
      const ranMs = s && lastSched ? s.run - lastSched.run : NaN;
      const waitMs = s && lastSched ? s.wait - lastSched.wait : NaN;
      stalls.push({ from: last + STALL_TICK_MS, ms: late, ranMs, waitMs, blockedMs: Math.max(0, now - last - ranMs - waitMs) });
    }
    last = now;
    lastSched = s;
  }, STALL_TICK_MS).unref();
  const pctOf = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : 0);
  const gcSummary = () => {
    const by = {};
    for (const g of gcs) (by[g.kind] ??= []).push(g.ms);
    const out = {};
    for (const [kind, ms] of Object.entries(by)) {
      ms.sort((a, b) => a - b);
      out[kind] = { n: ms.length, totalMs: ms.reduce((a, b) => a + b, 0), p50Ms: pctOf(ms, 50), p99Ms: pctOf(ms, 99), maxMs: ms[ms.length - 1] };
    }
    return out;
  };
  // alloc: GCProfiler's records are read (stop, start again) at every write
  let profiler = new GCProfiler();
  profiler.start();
  const zeroAlloc = () => {
    const h = getHeapStatistics();
    return { jsBytes: 0, lastUsed: h.used_heap_size };
  };
  let alloc = zeroAlloc();
  const readAlloc = () => {
    for (const g of profiler.stop()?.statistics ?? []) {
      const before = g.beforeGC.heapStatistics;
      const after = g.afterGC.heapStatistics;
      alloc.jsBytes += Math.max(0, before.usedHeapSize - alloc.lastUsed);
      alloc.lastUsed = after.usedHeapSize;
    }
    profiler = new GCProfiler();
    profiler.start();
    return { jsBytes: alloc.jsBytes + Math.max(0, getHeapStatistics().used_heap_size - alloc.lastUsed) };
  };
  const gcInside = (from, to) => gcs.reduce((a, g) => a + Math.max(0, Math.min(to, g.at + g.ms) - Math.max(from, g.at)), 0);
  // The file is opened once and written over in place, padded with spaces (JSON allows them) to
  // its longest length so far: it never shrinks. writeFileSync truncated it every second, and on a
  // file system mounted with `discard` (this machine's /) freeing its blocks issued a synchronous
  // discard: up to tens of ms asleep on this thread, counted as the SMTP thread's own stalls.
  const fd = openSync(file, 'w');
  let fileBytes = 0;
  const writeOver = (text) => {
    let buf = Buffer.from(text);
    if (buf.length < fileBytes) buf = Buffer.concat([buf, Buffer.alloc(fileBytes - buf.length, 0x20)]);
    writeSync(fd, buf, 0, buf.length, 0);
    fileBytes = buf.length;
  };
  const write = () => {
    const cpu = process.cpuUsage(since);
    const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const longest = [...stalls].sort((a, b) => b.ms - a.ms).slice(0, 20);
    writeOver(
      JSON.stringify({
        windowMs: performance.now() - windowStart,
        windowStartUs: mono(windowStart),
        p50Ms: ms(h.percentile(50)),
        p99Ms: ms(h.percentile(99)),
        maxMs: ms(h.max),
        // the process (every thread): user+system
        processCpuMs: (cpu.user + cpu.system) / 1000,
        // the main thread alone: what the SMTP loop itself spent (Node 20: performance.eventLoopUtilization says how busy)
        mainThreadElu: performance.eventLoopUtilization(elu).utilization,
        gc: gcSummary(),
        alloc: readAlloc(),
        gcLongest: [...gcs].sort((a, b) => b.ms - a.ms).slice(0, 10).map((g) => ({ kind: g.kind, ms: g.ms, atUs: mono(g.at) })),
        // the whole window: this thread's time on a CPU and waiting for one
        sched: (() => {
          const s = sched();
          return s && schedStart ? { ranMs: s.run - schedStart.run, runqueueMs: s.wait - schedStart.wait } : null;
        })(),
        stalls: {
          n: stalls.length,
          totalMs: stalls.reduce((a, s) => a + s.ms, 0),
          withGcMs: stalls.reduce((a, s) => a + gcInside(s.from, s.from + s.ms), 0),
          // each stall's interval (timer period + lateness) split: ran on a CPU / waited for one / blocked
          ranMs: stalls.reduce((a, s) => a + s.ranMs, 0),
          runqueueMs: stalls.reduce((a, s) => a + s.waitMs, 0),
          blockedMs: stalls.reduce((a, s) => a + s.blockedMs, 0),
          // stalls in which the loop itself ran 10+ ms (CPU time: what the load does not explain)
          ran10: stalls.filter((s) => s.ranMs >= STALL_MS).length,
          longestRanMs: stalls.reduce((a, s) => Math.max(a, s.ranMs || 0), 0),
          longest: longest.map((s) => ({ ms: s.ms, ranMs: s.ranMs, runqueueMs: s.waitMs, blockedMs: s.blockedMs, gcMs: gcInside(s.from, s.from + s.ms), fromUs: mono(s.from) })),
          all: stalls.map((s) => [mono(s.from), Math.round(s.ms * 1000), Math.round(s.ranMs * 1000), Math.round(s.waitMs * 1000)]),
        },
      }),
    );
  };
  process.on('SIGUSR2', () => {
    h.reset();
    since = process.cpuUsage();
    windowStart = performance.now();
    elu = performance.eventLoopUtilization();
    gcs = [];
    stalls = [];
    schedStart = sched();
    readAlloc();
    alloc = zeroAlloc();
  });
  // Writing is itself work on this loop (a sort, a JSON file): once a second, and at once on
  // SIGWINCH (the benchmark asks when the load is done).
  process.on('SIGWINCH', write);
  // FERRY_BENCH_HEAP_SAMPLES=FILE: what this thread allocates, by stack (the inspector's sampling
  // heap profiler, keeping the samples of objects already collected, so it is allocation, not
  // what is alive): from SIGUSR2 (the load starts) to the first SIGWINCH after it, written to FILE
  // (a .heapprofile: bench/heap-samples.mjs sums it by function).
  const heapFile = process.env.FERRY_BENCH_HEAP_SAMPLES;
  if (heapFile) {
    const { Session } = await import('node:inspector');
    const session = new Session();
    session.connect();
    let sampling = false;
    process.on('SIGUSR2', () => {
      if (sampling) return;
      sampling = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    });
    process.on('SIGWINCH', () => {
      if (!sampling) return;
      sampling = false;
      session.post('HeapProfiler.stopSampling', (err, r) => {
        if (!err) writeFileSync(heapFile, JSON.stringify(r.profile));
      });
    });
  }
  setInterval(write, 1000).unref();
}
