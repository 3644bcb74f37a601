// CPU time of a Ferry process by thread role, for the benchmarks (Linux /proc only).
//
// Worker threads inherit `--import bench/loop-delay-hook.mjs`; the hook writes each worker's
// Linux TID and entry file (sign-worker.js, session-thread-worker.js) into
// $FERRY_BENCH_LOOP_FILE.threads/. The SQLite writer thread is started without the parent's
// --import, so it is found by elimination: the busiest thread nobody named. What is left (V8's
// GC and compiler helper threads, libuv's pool for fs and crypto) is "runtime".
import { readdirSync, readFileSync } from 'node:fs';

const TICK = 100; // CLK_TCK on Linux

/** utime and stime (ticks) of every thread of a process now. */
export function threadSnapshot(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // the thread's name (V8 DefaultWorker, libuv-worker, node, ...) for runtimeByName
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      out.set(Number(tid), { user: Number(f[11]), sys: Number(f[12]), minflt: Number(f[7]), comm });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** The roles the hook recorded: TID -> role. */
export function threadRoles(loopFile) {
  const roles = new Map();
  let names = [];
  try {
    names = readdirSync(`${loopFile}.threads`);
  } catch {
    return roles;
  }
  for (const n of names) {
    try {
      roles.set(Number(n), readFileSync(`${loopFile}.threads/${n}`, 'utf8').trim());
    } catch {
      // written as we read
    }
  }
  return roles;
}

const ROLE_NAMES = { 'sign-worker': 'sign threads', 'session-thread-worker': 'delivery thread' };

/**
 * CPU ms per message by role between two snapshots: { main, writer, 'sign threads',
 * 'delivery thread', runtime, ... } (each: { cpu, sys }). A thread that ended between the
 * snapshots is missing from the end one: its time is lost (say so by comparing with the
 * process total).
 */
export function cpuByRole(pid, base, end, roles, count) {
  const byRole = new Map();
  const add = (role, user, sys, minflt = 0) => {
    const r = byRole.get(role) ?? { cpu: 0, sys: 0, faults: 0 };
    r.cpu += ((user + sys) / TICK / count) * 1000;
    r.sys += (sys / TICK / count) * 1000;
    // minor page faults per message (fresh memory touched: allocation churn)
    r.faults += minflt / count;
    byRole.set(role, r);
  };
  const unnamed = [];
  for (const [tid, e] of end) {
    const b = base.get(tid) ?? { user: 0, sys: 0, minflt: 0 };
    const user = e.user - b.user;
    const sys = e.sys - b.sys;
    const minflt = (e.minflt ?? 0) - (b.minflt ?? 0);
    if (tid === pid) add('main', user, sys, minflt);
    else if (roles.has(tid)) {
      const entry = roles.get(tid).replace(/\.(js|ts|mjs)$/, '');
      add(ROLE_NAMES[entry] ?? entry, user, sys, minflt);
    } else unnamed.push({ user, sys, minflt });
  }
  unnamed.sort((a, b) => b.user + b.sys - (a.user + a.sys));
  if (unnamed.length) add('writer (busiest unnamed)', unnamed[0].user, unnamed[0].sys, unnamed[0].minflt);
  for (const u of unnamed.slice(1)) add('runtime (GC, libuv)', u.user, u.sys, u.minflt);
  return byRole;
}

/**
 * The "runtime (GC, libuv)" group of cpuByRole split by thread name (comm): "V8 DefaultWorke
 * 0.18 (3 threads); libuv-worker 0.02 (4); ..." in CPU ms per message. Which of V8's helpers
 * (GC, compiler) and libuv's pool the time goes to: the reason for or against a V8 flag.
 */
export function runtimeByName(pid, base, end, roles, count) {
  const unnamed = [];
  for (const [tid, e] of end) {
    if (tid === pid || roles.has(tid)) continue;
    const b = base.get(tid) ?? { user: 0, sys: 0 };
    unnamed.push({ comm: e.comm ?? '?', ticks: e.user - b.user + e.sys - b.sys });
  }
  unnamed.sort((a, b) => b.ticks - a.ticks);
  const byName = new Map();
  // the busiest unnamed thread is the writer (cpuByRole): not runtime
  for (const u of unnamed.slice(1)) {
    const r = byName.get(u.comm) ?? { ms: 0, threads: 0 };
    r.ms += (u.ticks / TICK / count) * 1000;
    r.threads += 1;
    byName.set(u.comm, r);
  }
  return [...byName]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([name, r]) => `${name} ${r.ms.toFixed(3)} (${r.threads} thread${r.threads === 1 ? '' : 's'})`)
    .join('; ');
}

/**
 * "main 1.70 (0.47); writer 0.80 (0.30); ...; 1.54 cores busy" (the last part when messages per
 * second is given: how many cores the process kept busy at that rate, 2 = both of a 2-core machine).
 */
export function formatByRole(byRole, perSec = null) {
  const f = (n) => (n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const order = ['main', 'writer (busiest unnamed)', 'sign threads', 'delivery thread', 'runtime (GC, libuv)'];
  const keys = [...byRole.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  const parts = keys.map((k) => `${k} ${f(byRole.get(k).cpu)} (${f(byRole.get(k).sys)})`);
  if (perSec !== null) {
    const total = [...byRole.values()].reduce((a, r) => a + r.cpu, 0);
    parts.push(`${f((total * perSec) / 1000)} cores busy`);
  }
  if ([...byRole.values()].some((r) => r.faults > 0)) parts.push(`minor page faults per message: ${keys.map((k) => `${k.split(' ')[0]} ${byRole.get(k).faults.toFixed(1)}`).join(', ')}`);
  return parts.join('; ');
}

/**
 * Every thread of the process by role, before the load: 'main', 'delivery thread', 'sign threads'
 * (named by the hook), 'writer' (of the unnamed threads, the one that made the most write system
 * calls: the SQLite writer wrote the migrations; V8's and libuv's threads write nothing) and
 * 'runtime' (the other unnamed ones: V8's GC and compiler helpers, libuv's pool). TID -> role.
 */
export function threadsByRole(pid, loopFile) {
  const roles = threadRoles(loopFile);
  const out = new Map();
  let best = null;
  for (const tid of [...threadSnapshot(pid).keys()]) {
    if (tid === pid) out.set(tid, 'main');
    else if (roles.has(tid)) {
      const entry = roles.get(tid).replace(/\.(js|ts|mjs)$/, '');
      out.set(tid, ROLE_NAMES[entry] ?? entry);
    } else {
      let syscw = 0;
      try {
        syscw = Number(/^syscw:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/io`, 'utf8'))?.[1] ?? 0);
      } catch {
        // the thread ended
      }
      out.set(tid, 'runtime');
      if (!best || syscw > best.syscw) best = { tid, syscw };
    }
  }
  if (best) out.set(best.tid, 'writer');
  return out;
}
