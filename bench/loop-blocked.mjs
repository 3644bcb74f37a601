// Where Ferry's SMTP (main) thread sleeps while it has work: every time the thread leaves the CPU
// asleep (sched_switch with prev_state S or D), its user stack at that moment (perf, DWARF
// unwinding) and how long until it ran again (the next switch to it, from a system-wide record of
// the same event), summed by the innermost frames that say why: a mutex in V8's platform task
// queue, the kernel's mmap lock in malloc's heap growth, SQLite's shm lock, a synchronous discard...
// "(idle: epoll_wait)" is the loop waiting for events, not a stall. The "blocked" of
// bench/loop-summary.mjs is the rest.
//
// Capture while a load runs (Ferry's pid: the `ferry start` child of compare-postfix), e.g.:
//   node bench/compare-postfix.mjs --only ferry --cases reused --scale 0.4 &
//   (wait for smtp-source to start)
//   perf record -e sched:sched_switch --call-graph dwarf,16384 -t PID -o /tmp/t.data -- sleep 3 &
//   perf record -a -e sched:sched_switch -o /tmp/a.data -- sleep 3
//   node bench/loop-blocked.mjs /tmp/t.data /tmp/a.data [--top 14]
import { execFileSync } from 'node:child_process';

const argv = process.argv.slice(2);
const [threadData, allData] = argv;
if (!threadData || !allData) {
  console.error('usage: node bench/loop-blocked.mjs THREAD.data ALL.data [--top N]');
  process.exit(2);
}
const top = Number(argv[argv.indexOf('--top') + 1] || 14);
const script = (args) => execFileSync('perf', ['script', ...args], { maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

// Frames that only say "a lock" or "a syscall": the reason is the first frame after them.
const PLUMBING = /^(__|___|syscall|futex|pthread|lll_|uv_mutex|uv_cond|entry_|do_|x64_|schedule|\[unknown\])/;
const outs = [];
let tid = null;
for (const ev of script(['-i', threadData]).split('\n\n')) {
  const lines = ev.split('\n').filter((l) => l.trim());
  const m = lines[0]?.match(/(\d+\.\d+):\s+sched:sched_switch:.*prev_pid=(\d+) .*prev_state=(\S+)/);
  if (!m || m[3].startsWith('R')) continue;
  tid = m[2];
  const frames = lines
    .slice(1)
    .filter((l) => !l.includes('[kernel.kallsyms]'))
    .map((l) => l.trim().split(' ').slice(1).join(' ').replace(/\+0x[0-9a-f]+/, '').split(' (')[0])
    .filter((f) => f && !PLUMBING.test(f));
  const kernel = lines.slice(1).filter((l) => l.includes('[kernel.kallsyms]')).map((l) => l.trim().split(' ')[1].replace(/\+0x[0-9a-f]+/, ''));
  let why = frames.slice(0, 3).join(' < ');
  if (/uv__io_poll|epoll_wait/.test(why)) why = '(idle: epoll_wait)';
  else if (m[3] === 'D') why = `${kernel.find((k) => !/^(__schedule|schedule|io_schedule|schedule_timeout)/.test(k)) ?? '?'} | ${why}`;
  outs.push({ at: Number(m[1]), why: `${m[3][0]} ${why}` });
}
const ins = [];
for (const l of script(['-i', allData, '-F', 'time,trace']).split('\n')) {
  const m = l.match(/(\d+\.\d+):\s+.*next_pid=(\d+)/);
  if (m && m[2] === tid) ins.push(Number(m[1]));
}
ins.sort((a, b) => a - b);
const firstAfter = (t) => {
  let lo = 0;
  let hi = ins.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ins[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo < ins.length ? ins[lo] : null;
};
const by = new Map();
for (const o of outs) {
  const back = firstAfter(o.at);
  if (back === null) continue;
  const ms = (back - o.at) * 1000;
  const e = by.get(o.why) ?? { ms: 0, n: 0, over1: 0 };
  e.ms += ms;
  e.n++;
  if (ms >= 1) e.over1++;
  by.set(o.why, e);
}
console.log(`thread ${tid}: ${outs.length} times asleep`);
for (const [why, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(`${e.ms.toFixed(1).padStart(9)} ms ${String(e.n).padStart(5)} x (${e.over1} >= 1 ms)  ${why.slice(0, 220)}`);
}
