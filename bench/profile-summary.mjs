#!/usr/bin/env node
// Summarizes a .cpuprofile (node --cpu-prof): self time by function and by file (node_modules
// package or src/ path), largest first. `node bench/profile-summary.mjs tmp/prof/X.cpuprofile [--top 25]`
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const ti = process.argv.indexOf('--top');
const TOP = ti > 0 ? Number(process.argv[ti + 1]) : 25;
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
// --samples: each sample weighs one sampling interval instead of the wall time since the last
// one. On a loaded machine a thread preempted inside a syscall (a loopback write that wakes the
// reader) is sampled once when it runs again, with the whole wait as its time delta: wall-time
// weights charge that wait to the syscall; counting samples approximates CPU time instead.
const SAMPLES = process.argv.includes('--samples');
const dt = prof.timeDeltas;
const interval = SAMPLES ? (prof.endTime - prof.startTime) / Math.max(1, prof.samples.length) : 0;
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (SAMPLES ? interval : dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const where = (url) => {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 13).split('/').slice(0, url.slice(nm + 13).startsWith('@') ? 2 : 1).join('/');
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 6);
  return url.replace(/^file:\/\//, '');
};
const fn = new Map();
const files = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const k = `${cf.functionName || '(anonymous)'} ${where(cf.url)}:${cf.lineNumber + 1}`;
  fn.set(k, (fn.get(k) ?? 0) + us);
  const f = where(cf.url) === '(native)' ? cf.functionName || '(native)' : where(cf.url);
  files.set(f, (files.get(f) ?? 0) + us);
}
const show = (title, m) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
show('self time by function', fn);
show('self time by file / package', files);

// --callers NAME: the call stacks (3 frames up) that lead to a function's self time
const di = process.argv.indexOf("--depth");
const DEPTH = di > 0 ? Number(process.argv[di + 1]) : 4;
const ci = process.argv.indexOf('--callers');
if (ci > 0) {
  const name = process.argv[ci + 1];
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n.callFrame.functionName !== name) continue;
    const chain = [];
    for (let p = parent.get(id); p !== undefined && chain.length < DEPTH; p = parent.get(p)) {
      const cf = byId.get(p).callFrame;
      chain.push(`${cf.functionName || '(anon)'}@${where(cf.url)}:${cf.lineNumber + 1}`);
    }
    const k = chain.join(' < ');
    stacks.set(k, (stacks.get(k) ?? 0) + us);
  }
  show(`callers of ${name}`, stacks);
}

// --groups: each sample charged to the subsystem of the outermost Ferry or library frame on its
// stack (root first): inbound SMTP (smtp-server, receive/), delivery (nodemailer, deliver/,
// workers/, sign/, outcome/, classify/, throttle/), the store, start-up (module loading), and
// the rest by name. Wall-time samples: a syscall that wakes another process looks expensive.
if (process.argv.includes('--groups')) {
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const GROUPS = [
    ['start-up', /modules\/|bootstrap|main\.js|admin\/start|keygen|createClassifier/],
    ['inbound SMTP (smtp-server, receive/)', /smtp-server|receive\/|policy\/|suppress\/|throttle\/compose/],
    ['delivery (nodemailer, deliver/, workers/, sign/, outcome/, classify/)', /nodemailer|deliver\/|workers\/|sign\/|outcome\/|classify\/|throttle\//],
    ['store (store/, better-sqlite3, writer hand-off)', /store\/|better-sqlite3|node:internal\/worker/],
    ['bench hook', /loop-delay-hook/],
  ];
  const groups = new Map();
  for (const [id, us] of self) {
    const chain = [];
    for (let p = id; p !== undefined; p = parent.get(p)) chain.push(byId.get(p).callFrame);
    chain.reverse();
    let g = null;
    outer: for (const cf of chain) {
      const w = `${where(cf.url)} ${cf.functionName}`;
      for (const [name, re] of GROUPS) if (re.test(w)) { g = name; break outer; }
    }
    if (!g) {
      const leaf = byId.get(id).callFrame;
      g = where(leaf.url) === '(native)' ? leaf.functionName || '(native)' : `other: ${where(leaf.url)}`;
    }
    groups.set(g, (groups.get(g) ?? 0) + us);
  }
  show('self time by subsystem (outermost frame)', groups);
}
