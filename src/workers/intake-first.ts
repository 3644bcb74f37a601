import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { systemClock, type TimerHandle } from '../core/clock.js';

/**
 * Intake over delivery when the SMTP thread is short of CPU. Accepting is what clients wait on
 * (their 250); delivery can lag a little and catch up. When the SMTP thread's event loop was busy
 * for most of the last window (its utilization at or above `busyAt`) while messages were being
 * accepted, the delivery workers start at most `share` messages for each message accepted in
 * that window (at least `minPerWindow`): the rest of the delivery work (the SMTP thread's own
 * part, the writer's claims and fates, the delivery thread) waits for the next window, and the
 * CPU it would have taken goes to the sessions. Once intake slows (nothing accepted in a window)
 * or the loop has time to spare, starts are free again and the backlog drains at full speed.
 *
 * Bounds, so delivery never starves: every window lets at least `minPerWindow` starts go, and a
 * start never waits longer than `maxHoldMs`, whatever the load. Measured in bench/RESULTS.md
 * (reused13).
 */
export interface IntakeFirst {
  /** Messages were accepted (committed): intake is active in this window. */
  accepted(count: number): void;
  /** Before a delivery worker starts a message: null = go now; else a promise that resolves when it may. */
  admit(): Promise<void> | null;
  /** Lets every waiting start go and stops holding any (shutdown). */
  stop(): void;
  readonly stats: IntakeFirstStats;
}

export interface IntakeFirstStats {
  /** Windows in which delivery starts were limited. */
  yieldingWindows: number;
  /** Starts that waited, and their total wait (ms of this clock). */
  held: number;
  heldMs: number;
  /** Starts waiting now. */
  waiting: number;
}

/**
 * Time here is the SMTP thread's real time, not the relay's injected clock: what is measured is
 * how busy this event loop is (like turn-budget.ts). A test's manual clock, which moves only when
 * told, would hold starts until it is advanced — while the test waits for them to finish.
 */
export interface IntakeFirstOptions {
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
  /** Runs fn after ms of real time (default a system timer). */
  setTimer?: (ms: number, fn: () => void) => TimerHandle;
  /** Length of one measuring window (ms). */
  windowMs?: number;
  /** The SMTP thread counts as short of CPU at or above this event-loop utilization (0..1) over a window. */
  busyAt?: number;
  /** Delivery starts allowed per message accepted, in a window that found the loop busy. */
  share?: number;
  /** Starts allowed in any window, however busy. */
  minPerWindow?: number;
  /** Longest any start waits (ms). */
  maxHoldMs?: number;
  /** The loop's utilization since the previous call, 0..1 (default: perf_hooks, this thread). */
  utilization?: () => number;
}

export const INTAKE_FIRST_DEFAULTS = { windowMs: 100, busyAt: 0.75, share: 0.5, minPerWindow: 2, maxHoldMs: 1000 } as const;

/** This thread's event-loop utilization since the previous call. */
export function loopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}

export function createIntakeFirst(options: IntakeFirstOptions): IntakeFirst {
  const clock = { now: options.now ?? (() => performance.now()), setTimer: options.setTimer ?? systemClock.setTimer };
  const windowMs = options.windowMs ?? INTAKE_FIRST_DEFAULTS.windowMs;
  const busyAt = options.busyAt ?? INTAKE_FIRST_DEFAULTS.busyAt;
  const share = options.share ?? INTAKE_FIRST_DEFAULTS.share;
  const minPerWindow = Math.max(1, options.minPerWindow ?? INTAKE_FIRST_DEFAULTS.minPerWindow);
  const maxHoldMs = options.maxHoldMs ?? INTAKE_FIRST_DEFAULTS.maxHoldMs;
  const utilization = options.utilization ?? loopUtilization();

  let windowStart = clock.now();
  let acceptedInWindow = 0;
  // Starts left in the current window; Infinity: not yielding.
  let credits = Infinity;
  let stopped = false;
  const waiting: { at: number; go: () => void }[] = [];
  let timer: TimerHandle | null = null;
  const stats = { yieldingWindows: 0, held: 0, heldMs: 0 };

  /** Closes the window if it has ended: measures it and sets the next one's allowance. */
  function roll(now: number): void {
    if (now < windowStart + windowMs) return;
    const busy = utilization() >= busyAt;
    const yielding = !stopped && acceptedInWindow > 0 && busy;
    credits = yielding ? Math.max(minPerWindow, Math.floor(share * acceptedInWindow)) : Infinity;
    if (yielding) stats.yieldingWindows++;
    acceptedInWindow = 0;
    windowStart = now;
  }

  function release(now: number): void {
    while (waiting.length > 0 && (credits > 0 || now - waiting[0]!.at >= maxHoldMs)) {
      const w = waiting.shift()!;
      if (credits > 0) credits--;
      stats.held++;
      stats.heldMs += now - w.at;
      w.go();
    }
    arm(now);
  }

  function arm(now: number): void {
    if (waiting.length === 0 || timer) return;
    const nextWindow = windowStart + windowMs;
    const oldestDue = waiting[0]!.at + maxHoldMs;
    timer = clock.setTimer(Math.max(0, Math.min(nextWindow, oldestDue) - now), () => {
      timer = null;
      const t = clock.now();
      roll(t);
      release(t);
    });
  }

  return {
    accepted(count) {
      const now = clock.now();
      roll(now);
      acceptedInWindow += count;
    },
    admit() {
      if (stopped) return null;
      const now = clock.now();
      roll(now);
      if (waiting.length === 0 && credits > 0) {
        credits--;
        return null;
      }
      return new Promise<void>((resolve) => {
        waiting.push({ at: now, go: resolve });
        arm(now);
      });
    },
    stop() {
      stopped = true;
      credits = Infinity;
      timer?.cancel();
      timer = null;
      release(clock.now());
    },
    get stats() {
      return { ...stats, waiting: waiting.length };
    },
  };
}
