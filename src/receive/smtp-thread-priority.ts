import { setThisThreadNiceness, type ThreadPriorityDeps, type ThreadPriorityResult } from '../core/thread-priority.js';

/**
 * The SMTP thread's Linux nice value: above every other thread of Ferry's (0; signing threads
 * 10), so that when the cores are short the event loop that answers the sessions is run first.
 * Measured (bench/RESULTS.md, loopp99): under load most of the SMTP thread's event-loop stalls
 * were time spent runnable and waiting for a CPU behind Ferry's own writer, delivery, signing and
 * V8 threads and the load's processes, not time it ran; at -10 (a weight ~9× a normal thread's)
 * that wait fell by half or more. The thread uses well under one core, so the others still get
 * the rest of both.
 */
export const SMTP_THREAD_NICENESS = -10;

export type RaisePriorityResult = ThreadPriorityResult;

/**
 * Raises the calling thread's priority (Linux: setpriority on the thread's own id, found through
 * /proc/thread-self; Linux nice values are per thread). A raise needs CAP_SYS_NICE or an
 * RLIMIT_NICE that allows it (systemd LimitNICE=-10: the least privilege that does); without
 * either nothing changes and the reason says so. Not systemd's Nice=-10: that raises every
 * thread, which is no raise against the process's own.
 *
 * Call it once the other threads are started: a thread inherits the nice value of the thread
 * that creates it, so one started from this thread afterwards runs at this priority too (the
 * signing threads set their own, lower, whenever they start).
 */
export function raiseThisThreadPriority(niceness: number = SMTP_THREAD_NICENESS, deps: ThreadPriorityDeps = {}): RaisePriorityResult {
  return setThisThreadNiceness(niceness, -20, 0, deps);
}
