import { statfs as statfsPromise } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

export interface DiskThresholds {
  /** 0: no byte floor */
  minFreeBytes: number;
  /** 0: no percentage floor */
  minFreePercent: number;
  checkIntervalMs: number;
}

export interface DiskReading {
  freeBytes: number;
  totalBytes: number;
}

export interface DiskGuardDeps {
  /** A path on the disk to watch (the data directory: database and spool live there). */
  path: string;
  thresholds: DiskThresholds;
  clock: Clock;
  logger: Logger;
  /** Injected for tests; default: fs.statfs (space available to this unprivileged user). */
  measure?: (path: string) => Promise<DiskReading>;
}

export interface DiskState {
  /** false: free space is below a threshold; new mail is refused with 452 4.3.1. */
  accepting: boolean;
  freeBytes: number | null;
  totalBytes: number | null;
  /** why accepting is false, for logs and /readyz */
  reason: string | null;
  checkedAt: number | null;
}

export interface DiskGuard {
  /** Synchronous, for MAIL FROM: the state as of the last check. */
  accepting(): boolean;
  state(): DiskState;
  /** Measures now (start, reload). A failed measurement keeps the previous verdict. */
  check(): Promise<DiskState>;
  /** New thresholds (reload); measures at once. */
  update(thresholds: DiskThresholds): Promise<DiskState>;
  /** Measure now, then every checkIntervalMs on the clock. */
  start(): Promise<void>;
  stop(): void;
}

async function statfsReading(path: string): Promise<DiskReading> {
  const s = await statfsPromise(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/**
 * Refuses new mail before the disk is full rather than accepting it and failing to store it:
 * free space is measured on a timer, and MAIL FROM asks the last verdict (no I/O on the SMTP
 * path). Accepting resumes by itself at the first check that finds space again.
 */
export function createDiskGuard(deps: DiskGuardDeps): DiskGuard {
  const measure = deps.measure ?? statfsReading;
  let thresholds = deps.thresholds;
  let timer: TimerHandle | null = null;
  let running = false;
  const state: DiskState = { accepting: true, freeBytes: null, totalBytes: null, reason: null, checkedAt: null };

  function verdict(r: DiskReading): string | null {
    const { minFreeBytes, minFreePercent } = thresholds;
    if (minFreeBytes > 0 && r.freeBytes < minFreeBytes) {
      return `${formatBytes(r.freeBytes)} free on the data directory disk, below disk.minFreeBytes (${formatBytes(minFreeBytes)})`;
    }
    const percent = r.totalBytes > 0 ? (r.freeBytes / r.totalBytes) * 100 : 100;
    if (minFreePercent > 0 && percent < minFreePercent) {
      return `${percent.toFixed(1)}% free on the data directory disk, below disk.minFreePercent (${minFreePercent}%)`;
    }
    return null;
  }

  async function check(): Promise<DiskState> {
    let reading: DiskReading;
    try {
      reading = await measure(deps.path);
    } catch (err) {
      deps.logger.warn({ err, path: deps.path }, 'disk guard: cannot measure free space; keeping the last verdict');
      return { ...state };
    }
    const reason = verdict(reading);
    const was = state.accepting;
    state.accepting = reason === null;
    state.reason = reason;
    state.freeBytes = reading.freeBytes;
    state.totalBytes = reading.totalBytes;
    state.checkedAt = deps.clock.now();
    if (was && !state.accepting) deps.logger.error({ freeBytes: reading.freeBytes, path: deps.path }, `disk guard: ${reason}: refusing new mail with 452 4.3.1`);
    if (!was && state.accepting) deps.logger.warn({ freeBytes: reading.freeBytes, path: deps.path }, 'disk guard: free space is back above the thresholds: accepting mail again');
    return { ...state };
  }

  function schedule(): void {
    if (!running || timer) return;
    timer = deps.clock.setTimer(thresholds.checkIntervalMs, () => {
      timer = null;
      void check().finally(schedule);
    });
  }

  return {
    accepting: () => state.accepting,
    state: () => ({ ...state }),
    check,
    async update(next) {
      const intervalChanged = next.checkIntervalMs !== thresholds.checkIntervalMs;
      thresholds = next;
      if (intervalChanged && running) {
        timer?.cancel();
        timer = null;
      }
      const s = await check();
      schedule();
      return s;
    },
    async start() {
      running = true;
      await check();
      schedule();
    },
    stop() {
      running = false;
      timer?.cancel();
      timer = null;
    },
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
