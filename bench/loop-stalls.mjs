#!/usr/bin/env node
// What held Ferry's SMTP (main) thread during each stall: reads the stalls the loop-delay hook
// recorded (tmp/loop/CASE.json: every time a 5 ms timer fired 10+ ms late, with its monotonic
// start) and the main thread's --cpu-prof profile of the same run (tmp/prof/CASE/*.0.*.cpuprofile),
// and splits each stall's time into: GC, JS by entry point (the outermost Ferry or library frame
// of each sample's stack: which callback held the loop) and self time by function, and "not
// running" (gaps between samples longer than 3 sampling intervals: the thread waited for a CPU).
//
//   node bench/compare-postfix.mjs --only ferry --cases reused --scale 0.2 --cpu-prof --cpu-prof-interval 200
//   node bench/loop-stalls.mjs reused [--top 8] [--min-ms 10]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const kase = argv[0] ?? 'reused';
const TOP = Number(opt('top', '8'));
const MIN_MS = Number(opt('min-ms', '10'));
const loop = JSON.parse(readFileSync(join(root, 'tmp', 'loop', `${kase}.json`), 'utf8'));
const profDir = join(root, 'tmp', 'prof', kase);
// the main thread's profile: CPU.<date>.<time>.<pid>.<tid 0>.<seq>.cpuprofile, the newest
const mainProf = readdirSync(profDir)
  .filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f))
  .sort()
  .pop();
if (!mainProf) throw new Error(`no main-thread profile in ${profDir}`);
const prof = JSON.parse(readFileSync(join(profDir, mainProf), 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
// Each sample stands for one sampling interval of running: a thread that waited for a CPU is
// sampled once when it runs again, however long it waited (the signals coalesce), so counting
// samples approximates CPU time where the time between samples would count the wait too. The
// interval is the median time between samples (the mean is inflated by those waits).
const interval = (() => {
  const d = [...prof.timeDeltas].filter((x) => x > 0).sort((a, b) => a - b);
  return Number(opt('interval-us', String(d[Math.floor(d.length / 2)] ?? 1000)));
})();
const ts = new Float64Array(prof.samples.length);
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) ts[i] = t += prof.timeDeltas[i];

const where = (url) => {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 13);
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 6);
  return url.replace(/^file:\/\//, '');
};
const label = (cf) => `${cf.functionName || '(anonymous)'} ${where(cf.url)}:${cf.lineNumber + 1}`;
const entryCache = new Map();
/** The outermost frame of the stack that is Ferry's or a library's (not node:internal): the callback that ran. */
function entryOf(id) {
  if (entryCache.has(id)) return entryCache.get(id);
  const n = byId.get(id);
  const name = n.callFrame.functionName;
  if (name === '(garbage collector)' || name === '(idle)' || name === '(program)' || name === '(root)') return name;
  const chain = [];
  for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x).callFrame);
  chain.reverse(); // root first
  const app = chain.find((cf) => cf.url && !cf.url.startsWith('node:'));
  const out = app ? label(app) : label(chain[1] ?? n.callFrame);
  entryCache.set(id, out);
  return out;
}
const selfOf = (id) => label(byId.get(id).callFrame);

/** [first, last) sample indexes within [fromUs, toUs) */
function range(fromUs, toUs) {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (ts[m] < fromUs) lo = m + 1;
    else hi = m;
  }
  let end = lo;
  while (end < ts.length && ts[end] < toUs) end++;
  return [lo, end];
}
function breakdown(fromUs, toUs) {
  const [a, b] = range(fromUs, toUs);
  const entries = new Map();
  const selfs = new Map();
  let gapUs = 0;
  let sampledUs = 0;
  for (let i = a; i < b; i++) {
    // sample i covers (ts[i-1], ts[i]]: a long delta means the thread was not running (or not sampled)
    const dt = Math.min(ts[i] - (i > 0 ? ts[i - 1] : ts[i]), ts[i] - fromUs);
    const run = interval;
    gapUs += Math.max(0, dt - run);
    sampledUs += run;
    const id = prof.samples[i];
    const e = entryOf(id);
    entries.set(e, (entries.get(e) ?? 0) + run);
    const s = selfOf(id);
    selfs.set(s, (selfs.get(s) ?? 0) + run);
  }
  return { entries, selfs, gapUs, sampledUs, samples: b - a };
}
const ms = (us) => (us / 1000).toFixed(1);
const top = (m, n, total) =>
  [...m]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, us]) => `      ${ms(us).padStart(6)} ms ${((us / total) * 100).toFixed(0).padStart(3)} %  ${k}`)
    .join('\n');

// --ran: only the stalls in which the loop itself ran --min-ms on a CPU (the kernel's count):
// those the machine's load does not explain
const BY_RAN = argv.includes('--ran');
const stalls = (loop.stalls?.all ?? [])
  .map(([fromUs, us, ranUs, waitUs]) => ({ fromUs, us, ranUs, waitUs }))
  .filter((s) => (BY_RAN ? s.ranUs ?? 0 : s.us) >= MIN_MS * 1000);
const inProfile = stalls.filter((s) => s.fromUs >= prof.startTime && s.fromUs + s.us <= prof.endTime);
console.log(`${kase}: ${mainProf}, sampling interval ${interval.toFixed(0)} µs, ${prof.samples.length} samples`);
console.log(`stalls ${BY_RAN ? 'with the loop running' : ''} >= ${MIN_MS} ms: ${stalls.length} (${inProfile.length} inside the profile), ${ms(stalls.reduce((a, s) => a + s.us, 0))} ms in all`);
if (loop.gc) for (const [k, g] of Object.entries(loop.gc)) console.log(`GC ${k}: ${g.n} x, ${g.totalMs.toFixed(0)} ms, p50 ${g.p50Ms.toFixed(2)} / p99 ${g.p99Ms.toFixed(2)} / max ${g.maxMs.toFixed(2)} ms`);

const all = { entries: new Map(), selfs: new Map(), gapUs: 0, sampledUs: 0 };
for (const s of inProfile) {
  const b = breakdown(s.fromUs, s.fromUs + s.us);
  s.b = b;
  for (const [k, v] of b.entries) all.entries.set(k, (all.entries.get(k) ?? 0) + v);
  for (const [k, v] of b.selfs) all.selfs.set(k, (all.selfs.get(k) ?? 0) + v);
  all.gapUs += b.gapUs;
  all.sampledUs += b.sampledUs;
}
console.log(`\nall stalls together: ${ms(all.sampledUs)} ms running, ${ms(all.gapUs)} ms not running (waiting for a CPU)`);
console.log('    by entry point (the callback that ran):');
console.log(top(all.entries, 15, all.sampledUs));
console.log('    by self time:');
console.log(top(all.selfs, 15, all.sampledUs));
for (const s of [...inProfile].sort((x, y) => y.us - x.us).slice(0, TOP)) {
  console.log(`\nstall ${ms(s.us)} ms at +${ms(s.fromUs - prof.startTime)} ms: ${ms(s.b.sampledUs)} ms sampled running, ${ms(s.b.gapUs)} ms between samples${s.ranUs !== undefined ? `; kernel: ran ${ms(s.ranUs)} ms, waited for a CPU ${ms(s.waitUs)} ms` : ''}`);
  console.log(top(s.b.entries, 6, s.b.sampledUs));
  console.log('    self:');
  console.log(top(s.b.selfs, 5, s.b.sampledUs));
}

// Longest tasks: runs of consecutive samples with one entry point (a callback and what it ran
// synchronously, microtasks included), split at (program)/(idle) samples (the event loop's own
// code between callbacks) and at a change of entry point. Running time excludes gaps (not
// running), so it does not depend on the machine's load; GC inside the run is counted in it.
const runs = [];
let cur = null;
// only the load (the hook's window, from SIGUSR2): not start-up
const windowFrom = loop.windowStartUs ?? loop.stalls?.all?.[0]?.[0] ?? 0;
const windowTo = windowFrom + loop.windowMs * 1000;
for (let i = 1; i < ts.length; i++) {
  if (ts[i - 1] < windowFrom || ts[i] > windowTo) continue;
  const id = prof.samples[i];
  const e = entryOf(id);
  const run = interval;
  const sep = e === '(program)' || e === '(idle)' || e === '(root)';
  const isGc = e === '(garbage collector)';
  if (sep || (cur && !isGc && cur.entry !== e && cur.entry !== '(garbage collector)')) {
    if (cur) runs.push(cur);
    cur = null;
  }
  if (sep) continue;
  if (!cur) cur = { entry: e, from: ts[i - 1], runUs: 0, gcUs: 0, selfs: new Map() };
  if (cur.entry === '(garbage collector)' && !isGc) cur.entry = e;
  cur.runUs += run;
  if (isGc) cur.gcUs += run;
  cur.to = ts[i];
  const sf = selfOf(id);
  cur.selfs.set(sf, (cur.selfs.get(sf) ?? 0) + run);
}
if (cur) runs.push(cur);
runs.sort((a, b) => b.runUs - a.runUs);
const lens = runs.map((r) => r.runUs).sort((a, b) => a - b);
const q = (p) => lens[Math.min(lens.length - 1, Math.ceil((p / 100) * lens.length) - 1)] ?? 0;
console.log(`\ntasks (approximate, from samples): ${runs.length}; running time p50 ${ms(q(50))} / p99 ${ms(q(99))} / p99.9 ${ms(q(99.9))} / max ${ms(lens[lens.length - 1] ?? 0)} ms; >= 5 ms: ${lens.filter((x) => x >= 5000).length}, >= 10 ms: ${lens.filter((x) => x >= 10000).length}`);
const byEntry = new Map();
for (const r of runs.filter((x) => x.runUs >= 5000)) byEntry.set(r.entry, (byEntry.get(r.entry) ?? 0) + 1);
console.log('    tasks >= 5 ms by entry point:');
for (const [k, n] of [...byEntry].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`      ${String(n).padStart(4)}  ${k}`);
for (const r of runs.slice(0, TOP)) {
  console.log(`  task ${ms(r.runUs)} ms running (GC ${ms(r.gcUs)}), ${ms(r.to - r.from)} ms wall, at +${ms(r.from - prof.startTime)} ms: ${r.entry}`);
  console.log(top(r.selfs, 4, r.runUs));
}
