import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { DUMMY_HASH, verifyPassword } from '../../policy/passwords.js';
import { createAuthThrottle } from '../../policy/auth-throttle.js';
import type { Store } from '../../core/store.js';
import type { AdminRole, AdminRow } from '../../core/store-types.js';

export const SESSION_COOKIE = 'ferry_session';
/** A session ends after this long without a request... */
export const IDLE_MS = 30 * 60_000;
/** ...and after this long in any case. */
export const ABSOLUTE_MS = 12 * 3_600_000;

interface Session {
  name: string;
  createdAt: number;
  lastSeen: number;
}

export type LoginResult = { ok: true; token: string; name: string; role: AdminRole } | { ok: false; locked: boolean };

/**
 * Console sessions: a random token in the cookie, its SHA-256 in memory (a restart logs everyone
 * out, which is acceptable). The account is read again on every request, so `ferry admins
 * remove` and `passwd` (from another process) end its sessions at their next request.
 *
 * Login throttling: 5 failures within 5 minutes from one client address, or for one account
 * name, lock that address or name for 15 minutes. Unknown names cost the same scrypt as known ones.
 */
export function createSessions(deps: { admins: Pick<Store['admins'], 'get'>; clock: Clock }) {
  const sessions = new Map<string, Session>();
  // The same throttle as SMTP AUTH: a login takes its slot before the scrypt check starts, so
  // parallel requests cannot slip past the limit (issue 11).
  const throttle = createAuthThrottle(deps.clock, {
    max: 5,
    maxPerNetwork: 20,
    maxPerUser: 5,
    maxConcurrentPerClient: 2,
    windowMs: 5 * 60_000,
    lockoutMs: 15 * 60_000,
  });
  const hash = (token: string) => createHash('sha256').update(token).digest('hex');

  function prune(now: number): void {
    if (sessions.size < 1000) return;
    for (const [k, s] of sessions) if (s.lastSeen + IDLE_MS <= now || s.createdAt + ABSOLUTE_MS <= now) sessions.delete(k);
  }

  return {
    async login(name: string, password: string, ip: string): Promise<LoginResult> {
      const admission = throttle.begin(ip, name);
      if (!admission.ok) return { ok: false, locked: true };
      let admin: AdminRow | undefined;
      let ok: boolean;
      try {
        admin = await deps.admins.get(name);
        ok = await verifyPassword(password, admin?.passwordHash ?? DUMMY_HASH);
      } catch (err) {
        admission.release();
        throw err;
      }
      if (!ok || !admin) {
        const { locked } = admission.settle(false);
        return { ok: false, locked: locked.length > 0 };
      }
      admission.settle(true);
      const now = deps.clock.now();
      prune(now);
      const token = randomBytes(32).toString('base64url');
      sessions.set(hash(token), { name: admin.name, createdAt: now, lastSeen: now });
      return { ok: true, token, name: admin.name, role: admin.role };
    },
    /** The account behind a session cookie, or null (expired, logged out, account removed or its password changed). */
    async resolve(token: string | undefined): Promise<{ name: string; role: AdminRole } | null> {
      if (!token) return null;
      const key = hash(token);
      const s = sessions.get(key);
      if (!s) return null;
      const now = deps.clock.now();
      const admin = await deps.admins.get(s.name);
      if (!admin || admin.updatedAt > s.createdAt || s.lastSeen + IDLE_MS <= now || s.createdAt + ABSOLUTE_MS <= now) {
        sessions.delete(key);
        return null;
      }
      s.lastSeen = now;
      return { name: admin.name, role: admin.role };
    },
    logout(token: string | undefined): void {
      if (token) sessions.delete(hash(token));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
