#!/usr/bin/env node
// What the delivery side costs the SMTP thread, by the function that started the work: each
// sample of a --cpu-prof profile is charged to the OUTERMOST Ferry frame of its stack (an async
// continuation's own function, e.g. runDestinationWorker after an await, or the scheduler's
// claim callback) and grouped by pipeline part; the innermost Ferry frame is given beside it.
// Samples are counted (each weighs one interval: CPU, not waits; see profile-summary.mjs).
//
//   node bench/delivery-side-cost.mjs PROFILE.cpuprofile [--messages N] [--top 40] [--part REGEX]
//   PROFILE: the SMTP thread's profile (the one with smtp-server frames; a directory: picks it)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
let file = process.argv[2];
if (statSync(file).isDirectory()) {
  // the SMTP thread: the profile whose nodes mention smtp-server
  const dir = file;
  file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .find((f) => readFileSync(f, 'utf8').includes('smtp-server'));
}
const N = Number(arg('messages', '1'));
const TOP = Number(arg('top', '40'));
// --part REGEX: which parts' entries to list (default the delivery side and webhooks)
const SHOW = new RegExp(arg('part', '^delivery|^webhooks'));
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const interval = (prof.endTime - prof.startTime) / Math.max(1, prof.samples.length);

const ferry = (url) => {
  if (!url || url.includes('node_modules')) return null;
  const d = url.indexOf('/dist/');
  return d >= 0 ? url.slice(d + 6) : null;
};
// pipeline parts by file
const PART = [
  ['delivery: scheduler/workers', /^workers\/(scheduler|destination|lease-keeper|turn-budget|intake-first)/],
  ['delivery: deliverer/session thread', /^deliver\//],
  ['delivery: fate/outcome', /^outcome\//],
  ['delivery: sign stage (prepare)', /^sign\//],
  ['delivery: throttle/routing/tls', /^(throttle|route|dns|tls|mta-sts|dane)/],
  ['webhooks', /^workers\/webhook/],
  ['receive', /^receive\//],
  ['store', /^store\//],
  ['spool', /^spool\//],
  ['ops/metrics/admin', /^(ops|admin|metrics)\//],
  ['main wiring', /^main\.js/],
];
const partOf = (f) => {
  for (const [name, re] of PART) if (re.test(f)) return name;
  return `other: ${f.split('/')[0]}`;
};

const byOuter = new Map();
const byPart = new Map();
const byInner = new Map();
const byLeaf = new Map();
let busy = 0;
let idle = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  const leaf = byId.get(id).callFrame;
  if (leaf.functionName === '(idle)') {
    idle++;
    continue;
  }
  busy++;
  let outer = null;
  let inner = null;
  for (let p = id; p !== undefined; p = parent.get(p)) {
    const cf = byId.get(p).callFrame;
    const f = ferry(cf.url);
    if (!f) continue;
    const k = `${cf.functionName || '(anonymous)'} ${f}:${cf.lineNumber + 1}`;
    if (!inner) inner = k;
    outer = { k, f };
  }
  const part = outer ? partOf(outer.f) : leaf.functionName === '(garbage collector)' ? '(gc)' : leaf.functionName === '(program)' ? '(program)' : 'node/libraries only';
  byPart.set(part, (byPart.get(part) ?? 0) + 1);
  if (outer && SHOW.test(part)) {
    const k = outer.k;
    const e = byOuter.get(k) ?? { n: 0, inner: new Map() };
    e.n++;
    e.inner.set(inner, (e.inner.get(inner) ?? 0) + 1);
    byOuter.set(k, e);
    byInner.set(inner, (byInner.get(inner) ?? 0) + 1);
    const lk = `${leaf.functionName || '(anonymous)'} ${ferry(leaf.url) ?? (leaf.url.split('node_modules/').pop() || '(native)')}`;
    byLeaf.set(lk, (byLeaf.get(lk) ?? 0) + 1);
  }
}
const ms = (n) => (n * interval) / 1000;
console.log(`${file}\nsamples ${prof.samples.length} (interval ${interval.toFixed(0)} µs), busy ${ms(busy).toFixed(0)} ms, idle ${ms(idle).toFixed(0)} ms; per message: ÷${N}`);
console.log('\n| part (outermost Ferry frame) | ms | ms/msg | % busy |\n| --- | --- | --- | --- |');
for (const [k, n] of [...byPart].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${ms(n).toFixed(1)} | ${(ms(n) / N).toFixed(3)} | ${((n / busy) * 100).toFixed(1)} |`);
console.log('\n| delivery-side entry (outermost Ferry frame) | ms | µs/msg | largest innermost Ferry frame |\n| --- | --- | --- | --- |');
for (const [k, e] of [...byOuter].sort((a, b) => b[1].n - a[1].n).slice(0, TOP)) {
  const [ik, in_] = [...e.inner].sort((a, b) => b[1] - a[1])[0];
  console.log(`| ${k} | ${ms(e.n).toFixed(1)} | ${((ms(e.n) / N) * 1000).toFixed(0)} | ${ik} (${((in_ / e.n) * 100).toFixed(0)} %) |`);
}

for (const [title, m] of [['innermost Ferry frame', byInner], ['leaf frame (self time)', byLeaf]]) {
  console.log(`\n| listed parts, by ${title} | ms | µs/msg |\n| --- | --- | --- |`);
  for (const [k, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`| ${k} | ${ms(n).toFixed(1)} | ${((ms(n) / N) * 1000).toFixed(0)} |`);
}
