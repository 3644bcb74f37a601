import t from 'tap';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { lowerThisThreadPriority, THROUGHPUT_THREAD_NICENESS } from '../../src/core/thread-priority.js';

const niceOf = (tid: number): number => {
  const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
};

t.test('a thread lowers its own priority, and only its own (Linux)', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const mainBefore = niceOf(process.pid);
  const w = new Worker(new URL('./fixtures/lower-priority-worker.ts', import.meta.url));
  const report = await new Promise<{ before: number; after: number; result: ReturnType<typeof lowerThisThreadPriority> }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  if (report.before > THROUGHPUT_THREAD_NICENESS) {
    // the test runs niced further already: raising priority back needs privileges, and is refused
    t.equal(report.result.ok, false, 'refused');
    return;
  }
  t.same(report.result, { ok: true, tid: (report.result as { tid: number }).tid, niceness: THROUGHPUT_THREAD_NICENESS });
  t.equal(report.after, THROUGHPUT_THREAD_NICENESS, 'the thread runs at the lower priority');
  t.not((report.result as { tid: number }).tid, process.pid, 'a thread id of its own, not the process id');
  t.equal(niceOf(process.pid), mainBefore, 'the main thread keeps its priority');
});

t.test('where it cannot be done, nothing changes and the reason says why', async (t) => {
  const calls: [number, number][] = [];
  const setPriority = (tid: number, n: number): void => {
    calls.push([tid, n]);
  };
  t.match(lowerThisThreadPriority(10, { readlink: () => { throw new Error('ENOENT'); }, setPriority }), { ok: false, reason: /no \/proc\/thread-self: ENOENT/ });
  t.match(lowerThisThreadPriority(10, { readlink: () => 'elsewhere', setPriority }), { ok: false, reason: /points at elsewhere/ });
  t.match(lowerThisThreadPriority(20, { readlink: () => '1/task/2', setPriority }), { ok: false, reason: /0 to 19/ });
  t.same(calls, [], 'setpriority never called');
  t.match(
    lowerThisThreadPriority(10, { readlink: () => '1/task/2', setPriority: () => { throw new Error('EACCES'); } }),
    { ok: false, reason: /setpriority\(2, 10\): EACCES/ },
  );
  t.same(lowerThisThreadPriority(7, { readlink: () => '41/task/42', setPriority }), { ok: true, tid: 42, niceness: 7 });
  t.same(calls, [[42, 7]], 'the thread id from /proc/thread-self');
});
