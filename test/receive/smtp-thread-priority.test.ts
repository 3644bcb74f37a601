import t from 'tap';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { raiseThisThreadPriority, SMTP_THREAD_NICENESS, type RaisePriorityResult } from '../../src/receive/smtp-thread-priority.js';

const niceOf = (tid: number): number => {
  const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
};

// Run in a worker thread so the test process's own thread keeps its priority.
t.test('a thread raises its own priority, only its own, and threads it starts afterwards inherit it (Linux)', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const mainBefore = niceOf(process.pid);
  const w = new Worker(new URL('./fixtures/raise-priority-worker.ts', import.meta.url));
  const report = await new Promise<{ before: number; after: number; result: RaisePriorityResult; childNice: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  t.equal(niceOf(process.pid), mainBefore, 'the main thread keeps its priority');
  if (!report.result.ok) {
    // not privileged (no CAP_SYS_NICE, RLIMIT_NICE too low): refused, nothing changed
    t.match(report.result.reason, /setpriority\(\d+, -10\)/);
    t.equal(report.after, report.before, 'unchanged');
    return;
  }
  t.equal(report.result.niceness, SMTP_THREAD_NICENESS);
  t.not(report.result.tid, process.pid, 'a thread id of its own, not the process id');
  t.equal(report.after, SMTP_THREAD_NICENESS, 'the thread runs at the raised priority');
  t.equal(report.childNice, SMTP_THREAD_NICENESS, 'a thread started afterwards inherits it: why intake raises it only after the relay started its other threads');
});

t.test('where it cannot be done, nothing changes and the reason says why', async (t) => {
  const calls: [number, number][] = [];
  const setPriority = (tid: number, n: number): void => {
    calls.push([tid, n]);
  };
  t.match(raiseThisThreadPriority(-10, { readlink: () => { throw new Error('ENOENT'); }, setPriority }), { ok: false, reason: /no \/proc\/thread-self: ENOENT/ });
  t.match(raiseThisThreadPriority(-10, { readlink: () => 'elsewhere', setPriority }), { ok: false, reason: /points at elsewhere/ });
  t.match(raiseThisThreadPriority(5, { readlink: () => '1/task/2', setPriority }), { ok: false, reason: /-20 to 0/ });
  t.match(raiseThisThreadPriority(-21, { readlink: () => '1/task/2', setPriority }), { ok: false, reason: /-20 to 0/ });
  t.same(calls, [], 'setpriority never called');
  t.match(
    raiseThisThreadPriority(-10, { readlink: () => '1/task/2', setPriority: () => { throw new Error('EACCES'); } }),
    { ok: false, reason: /setpriority\(2, -10\): EACCES/ },
  );
  t.same(raiseThisThreadPriority(undefined, { readlink: () => '41/task/42', setPriority }), { ok: true, tid: 42, niceness: SMTP_THREAD_NICENESS });
  t.same(calls, [[42, SMTP_THREAD_NICENESS]], 'the thread id from /proc/thread-self');
});
