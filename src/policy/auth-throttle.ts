import type { Clock } from '../core/clock.js';

export interface AuthThrottleOptions {
  max: number;
  windowMs: number;
  lockoutMs: number;
}

/**
 * Counts failed AUTH attempts per client IP. After `max` failures within `windowMs`, the IP is
 * locked out for `lockoutMs`: its sessions get 421 and are closed, so passwords cannot be
 * brute-forced. State is in memory: a restart forgives, which is acceptable for a cool-down.
 */
export function createAuthThrottle(clock: Clock, options: AuthThrottleOptions) {
  const failures = new Map<string, number[]>();
  const lockedUntil = new Map<string, number>();

  function prune(now: number): void {
    if (failures.size + lockedUntil.size < 10_000) return;
    for (const [ip, until] of lockedUntil) if (until <= now) lockedUntil.delete(ip);
    for (const [ip, times] of failures) if (times.every((t) => t <= now - options.windowMs)) failures.delete(ip);
  }

  return {
    isLocked(ip: string): boolean {
      const until = lockedUntil.get(ip);
      if (until === undefined) return false;
      if (until > clock.now()) return true;
      lockedUntil.delete(ip);
      return false;
    },
    /** Records a failure; true when this failure locks the IP out. */
    fail(ip: string): boolean {
      const now = clock.now();
      prune(now);
      const recent = (failures.get(ip) ?? []).filter((t) => t > now - options.windowMs);
      recent.push(now);
      if (recent.length >= options.max) {
        failures.delete(ip);
        lockedUntil.set(ip, now + options.lockoutMs);
        return true;
      }
      failures.set(ip, recent);
      return false;
    },
    succeed(ip: string): void {
      failures.delete(ip);
    },
  };
}

export type AuthThrottle = ReturnType<typeof createAuthThrottle>;
