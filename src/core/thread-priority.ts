import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * How much lower than the SMTP (main) thread Ferry's signing threads run: a Linux nice value,
 * 0..19. At 10 the kernel gives a thread about a tenth of the CPU time of a normal one it
 * competes with, so when both cores are busy the SMTP thread's event loop runs first and a
 * signing thread takes what is left; an idle core still runs it at full speed. Measured
 * (bench/RESULTS.md, loop13): the SMTP thread otherwise waited for a CPU behind them, which the
 * event-loop delay counts. Only for threads with no deadline of their own: the delivery thread
 * runs network timeouts, which a starved thread would miss on a busy machine.
 */
export const THROUGHPUT_THREAD_NICENESS = 10;

export type ThreadPriorityResult = { ok: true; tid: number; niceness: number } | { ok: false; reason: string };
export type LowerPriorityResult = ThreadPriorityResult;

export interface ThreadPriorityDeps {
  readlink?: (path: string) => string;
  setPriority?: (tid: number, niceness: number) => void;
}

/**
 * Lowers the priority of the calling thread only (Linux: setpriority on the thread's own id,
 * found through /proc/thread-self). Elsewhere, or where /proc is not mounted, nothing changes
 * and the reason says why: the thread then simply runs at the process's priority.
 */
export function lowerThisThreadPriority(niceness: number = THROUGHPUT_THREAD_NICENESS, deps: ThreadPriorityDeps = {}): ThreadPriorityResult {
  return setThisThreadNiceness(niceness, 0, 19, deps);
}

/**
 * Sets the calling thread's nice value, within [min, max] (Linux nice values are per thread;
 * the thread's id comes from /proc/thread-self). Nothing changes where that cannot be done, and
 * the reason says why.
 */
export function setThisThreadNiceness(niceness: number, min: number, max: number, deps: ThreadPriorityDeps = {}): ThreadPriorityResult {
  const readlink = deps.readlink ?? readlinkSync;
  const set = deps.setPriority ?? setPriority;
  if (!Number.isInteger(niceness) || niceness < min || niceness > max) return { ok: false, reason: `niceness ${niceness}: ${min} to ${max} only` };
  let link: string;
  try {
    link = readlink('/proc/thread-self');
  } catch (err) {
    return { ok: false, reason: `no /proc/thread-self: ${(err as Error).message}` };
  }
  // "<pid>/task/<tid>"
  const m = /\/task\/(\d+)$/.exec(link);
  if (!m) return { ok: false, reason: `/proc/thread-self points at ${link}` };
  const tid = Number(m[1]);
  try {
    set(tid, niceness);
  } catch (err) {
    return { ok: false, reason: `setpriority(${tid}, ${niceness}): ${(err as Error).message}` };
  }
  return { ok: true, tid, niceness };
}
