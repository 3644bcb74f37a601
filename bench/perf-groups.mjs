#!/usr/bin/env node
// On-CPU samples of Ferry's SMTP thread (compare-postfix.mjs --perf) by subsystem: each sample
// is charged to the outermost Ferry or library frame on its stack, as in profile-summary.mjs
// --groups, but from perf's on-CPU samples (CPU time, not wall time).
//   node bench/perf-groups.mjs tmp/perf/reused.data [--top 25]
import { execFileSync } from 'node:child_process';

const file = process.argv[2];
const ti = process.argv.indexOf('--top');
const TOP = ti > 0 ? Number(process.argv[ti + 1]) : 0;
const text = execFileSync('perf', ['script', '-i', file], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
const GROUPS = [
  ['inbound: smtp-server, receive/ (and the policies it calls)', /smtp-server|\/receive\/|\/policy\/|\/suppress\//],
  ['delivery: nodemailer, deliver/, workers/, sign/, outcome/, classify/, throttle/', /nodemailer|\/deliver\/|\/workers\/|\/sign\/|\/outcome\/|\/classify\/|\/throttle\//],
  ['store: writer-thread replies (and what runs after them), store/, better-sqlite3', /\/store\/|MessagePort::OnMessage|better-sqlite3/],
  ['bench hook', /loop-delay-hook/],
];
const groups = new Map();
const leaves = new Map();
let total = 0;
const bump = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
for (const block of text.split(/\n(?=\S)/)) {
  const frames = block.split('\n').slice(1).map((l) => l.trim().replace(/^[0-9a-f]+ /, '').replace(/\+0x[0-9a-f]+ .*$/, '')).filter(Boolean);
  if (!frames.length) continue;
  total++;
  let g = null;
  outer: for (let i = frames.length - 1; i >= 0; i--) for (const [name, re] of GROUPS) if (re.test(frames[i])) { g = name; break outer; }
  if (!g) g = frames.some((f) => /entry_SYSCALL|\[k\]|^pvm_|schedule/.test(f)) ? 'kernel, from no Ferry frame' : 'event-loop machinery (microtasks, immediates, stream reads, malloc)';
  bump(groups, g);
  bump(leaves, frames[0]);
}
const show = (title, m, n) => {
  console.log(`\n${title} (${total} samples)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n || undefined)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
};
show('on-CPU samples by subsystem (outermost frame)', groups);
if (TOP) show('by leaf function (self)', leaves, TOP);
