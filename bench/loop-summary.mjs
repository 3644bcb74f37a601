// One line per case from the hook files compare-postfix kept (tmp/loop/CASE.json): the SMTP
// thread's delay p99 and its stalls (10+ ms late) classified — GC inside, the thread's own run
// time, waiting for a CPU, blocked — as counts and ms. A stall is put in the class that holds
// most of its time. Usage: node bench/loop-summary.mjs [LABEL] [CASE...]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';

const [label = '-', ...cases] = process.argv.slice(2);
const root = new URL('..', import.meta.url).pathname;
for (const c of cases.length ? cases : ['dkim100k', 'reused']) {
  let j;
  try {
    j = JSON.parse(readFileSync(join(root, 'tmp', 'loop', `${c}.json`), 'utf8'));
  } catch {
    continue;
  }
  // all: [fromUs, lateUs, ranUs, waitUs]; the interval is the 5 ms tick + the lateness
  const cls = { gc: [0, 0], ran: [0, 0], wait: [0, 0], blocked: [0, 0] };
  const gcs = j.gcLongest ?? [];
  for (const [from, late, ran, wait] of j.stalls.all) {
    const interval = late + 5000;
    const gc = gcs.reduce((a, g) => a + Math.max(0, Math.min(from + late, g.atUs + g.ms * 1000) - Math.max(from, g.atUs)), 0);
    const blocked = Math.max(0, interval - ran - wait);
    const parts = { gc, ran: ran - gc, wait, blocked };
    const k = Object.entries(parts).sort((a, b) => b[1] - a[1])[0][0];
    cls[k][0]++;
    cls[k][1] += late / 1000;
  }
  const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const gcTxt = Object.entries(j.gc ?? {}).map(([k, v]) => `${k} ${v.n}× max ${f(v.maxMs)}`).join(', ') || 'none';
  const s = j.stalls;
  console.log(
    `${label}\t${c}\tload ${loadavg()[0].toFixed(1)}\tp50/p99/max ${f(j.p50Ms)}/${f(j.p99Ms)}/${f(j.maxMs)}\tstalls ${s.n} (${f(s.totalMs)} ms): ran ${f(s.ranMs)} wait ${f(s.runqueueMs)} blocked ${f(s.blockedMs)}; ran10+ ${s.ran10}` +
      `\tby class n/ms: gc ${cls.gc[0]}/${f(cls.gc[1])} ran ${cls.ran[0]}/${f(cls.ran[1])} wait ${cls.wait[0]}/${f(cls.wait[1])} blocked ${cls.blocked[0]}/${f(cls.blocked[1])}\tGC ${gcTxt}\twhole ran/wait ${f(j.sched?.ranMs ?? NaN)}/${f(j.sched?.runqueueMs ?? NaN)}`,
  );
}
