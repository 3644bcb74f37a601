// Experiment (preloaded with --node-flags "--import ./bench/main-nice-hook.mjs"): when the load
// starts (the benchmark's SIGUSR2) sets the SMTP (main) thread's nice value to
// $FERRY_BENCH_MAIN_NICE. Linux nice is per thread and setpriority(PRIO_PROCESS, pid) names the
// main thread only; threads started before the load keep theirs.
import { setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

const nice = process.env.FERRY_BENCH_MAIN_NICE;
// FERRY_BENCH_MAIN_NICE_AT=import: at once instead, so every thread Ferry starts inherits it (as
// a priority set by bin/ferry would be).
if (isMainThread && nice !== undefined && nice !== '') {
  const set = () => {
    try {
      setPriority(process.pid, Number(nice));
    } catch (err) {
      process.stderr.write(`main-nice-hook: ${err.message}\n`);
    }
  };
  if (process.env.FERRY_BENCH_MAIN_NICE_AT === 'import') set();
  else process.on('SIGUSR2', set);
}
