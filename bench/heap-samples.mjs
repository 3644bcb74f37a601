// Sums a sampling heap profile (bench/loop-delay-hook.mjs with FERRY_BENCH_HEAP_SAMPLES, or any
// .heapprofile) by allocating function and by its nearest Ferry (src/) frame: bytes, largest first.
// With --messages N also per message. Samples are statistical (one per ~8 KB allocated).
//
//   FERRY_BENCH_HEAP_SAMPLES=/tmp/h.heapprofile node bench/compare-postfix.mjs --only ferry --cases dkim100k
//   node bench/heap-samples.mjs /tmp/h.heapprofile [--messages 2000] [--top 25]
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const file = argv[0];
if (!file || file.startsWith('--')) {
  console.error('usage: node bench/heap-samples.mjs FILE.heapprofile [--messages N] [--top N]');
  process.exit(2);
}
const messages = Number(opt('messages', '0'));
const top = Number(opt('top', '25'));
const profile = JSON.parse(readFileSync(file, 'utf8'));
const where = (f) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '').replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;

const nodes = new Map();
const parent = new Map();
(function walk(n, up) {
  nodes.set(n.id, n);
  if (up) parent.set(n.id, up.id);
  for (const c of n.children ?? []) walk(c, n);
})(profile.head, null);

const self = new Map();
const byFerry = new Map();
let total = 0;
for (const s of profile.samples) {
  const n = nodes.get(s.nodeId);
  if (!n) continue;
  total += s.size;
  const k = where(n.callFrame);
  self.set(k, (self.get(k) ?? 0) + s.size);
  let ferry = '(no Ferry frame)';
  for (let id = n.id; id !== undefined; id = parent.get(id)) {
    const f = nodes.get(id).callFrame;
    if (f.url.includes('/dist/') && !f.url.includes('node_modules')) {
      ferry = where(f);
      break;
    }
  }
  byFerry.set(ferry, (byFerry.get(ferry) ?? 0) + s.size);
}
const kb = (b) => (messages ? `${(b / messages / 1024).toFixed(2)} KB/msg` : `${(b / 1024).toFixed(0)} KB`);
console.log(`${file}: ${kb(total)} sampled in all`);
for (const [title, m] of [['by allocating function', self], ['by nearest Ferry frame', byFerry]]) {
  console.log(`\n${title}`);
  for (const [k, b] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * b) / total).toFixed(1).padStart(5)} %  ${kb(b).padStart(14)}  ${k}`);
}
