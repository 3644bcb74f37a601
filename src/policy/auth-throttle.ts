import type { Clock } from '../core/clock.js';
import { clientKeys } from './networks.js';

export interface AuthThrottleOptions {
  /** Failed AUTH attempts one client host (IPv4 address, IPv6 /64) may make within windowMs. */
  max: number;
  /** ...one client network (IPv4 /24; for IPv6 the /64 budget above is the network's). */
  maxPerNetwork: number;
  /** ...against one username, from anywhere. */
  maxPerUser: number;
  /** Password checks one client host may have running at once. */
  maxConcurrentPerClient: number;
  windowMs: number;
  lockoutMs: number;
}

export type AuthScope = 'host' | 'network' | 'user';

export type AuthAdmission =
  | {
      ok: true;
      /** The check ended: a failure counts (and may lock); true when it locked a scope. */
      settle(success: boolean): { locked: AuthScope[] };
      /** The check could not run (a local error): the slot is given back uncounted. */
      release(): void;
    }
  | { ok: false; reason: 'locked' | 'busy'; scope: AuthScope };

interface Budget {
  failures: number[];
  inFlight: number;
  lockedUntil: number;
}

/**
 * Guards password checks against guessing. An attempt takes its slot BEFORE the (asynchronous,
 * expensive) password check starts, so parallel sessions cannot all slip in under the limit:
 * a budget admits a new check only while its recent failures plus the checks still running stay
 * below its maximum. Budgets exist per client host, per client network and per username; a
 * budget that reaches its maximum of failures is locked for lockoutMs. Locking refuses further
 * AUTH only: the listener never refuses a connection (or relaying) because of it. In memory: a
 * restart forgives, which is acceptable for a cool-down.
 */
export function createAuthThrottle(clock: Clock, options: AuthThrottleOptions) {
  const budgets = new Map<string, Budget>();

  function prune(now: number): void {
    if (budgets.size < 10_000) return;
    for (const [key, b] of budgets) {
      if (b.inFlight === 0 && b.lockedUntil <= now && b.failures.every((t) => t <= now - options.windowMs)) budgets.delete(key);
    }
  }

  function budget(key: string, now: number): Budget {
    let b = budgets.get(key);
    if (!b) {
      b = { failures: [], inFlight: 0, lockedUntil: 0 };
      budgets.set(key, b);
    }
    if (b.failures.length && b.failures[0]! <= now - options.windowMs) b.failures = b.failures.filter((t) => t > now - options.windowMs);
    return b;
  }

  function scopes(ip: string, username: string | null): [AuthScope, string, number][] {
    const { host, network } = clientKeys(ip);
    const out: [AuthScope, string, number][] = [['host', `h:${host}`, options.max]];
    if (network !== host) out.push(['network', `n:${network}`, options.maxPerNetwork]);
    if (username !== null) out.push(['user', `u:${username.toLowerCase()}`, options.maxPerUser]);
    return out;
  }

  return {
    /** Whether AUTH from this client (any username) is refused now. */
    isLocked(ip: string): boolean {
      const now = clock.now();
      return scopes(ip, null).some(([, key]) => (budgets.get(key)?.lockedUntil ?? 0) > now);
    },
    /** Asks for a password check; the caller must settle (or release) an admitted one exactly once. */
    begin(ip: string, username: string): AuthAdmission {
      const now = clock.now();
      prune(now);
      const list = scopes(ip, username).map(([scope, key, max]) => ({ scope, max, b: budget(key, now) }));
      for (const { scope, b } of list) if (b.lockedUntil > now) return { ok: false, reason: 'locked', scope };
      if (list[0]!.b.inFlight >= options.maxConcurrentPerClient) return { ok: false, reason: 'busy', scope: 'host' };
      for (const { scope, max, b } of list) if (b.failures.length + b.inFlight >= max) return { ok: false, reason: 'busy', scope };
      for (const { b } of list) b.inFlight++;
      let done = false;
      const finish = (count: boolean, success: boolean): AuthScope[] => {
        if (done) return [];
        done = true;
        const at = clock.now();
        const locked: AuthScope[] = [];
        for (const { scope, max, b } of list) {
          b.inFlight--;
          if (!count) continue;
          if (success) {
            // The right password for this user says nothing about guesses at other users.
            if (scope === 'user') b.failures = [];
            continue;
          }
          b.failures.push(at);
          if (b.failures.length >= max) {
            b.failures = [];
            b.lockedUntil = at + options.lockoutMs;
            locked.push(scope);
          }
        }
        return locked;
      };
      return { ok: true, settle: (success) => ({ locked: finish(true, success) }), release: () => void finish(false, false) };
    },
  };
}

export type AuthThrottle = ReturnType<typeof createAuthThrottle>;
