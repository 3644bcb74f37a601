import type { Clock, TimerHandle } from '../core/clock.js';
import type { SmtpConfig } from '../config/schema.js';
import { clientKeys } from '../policy/networks.js';

export interface SessionSlotOptions {
  /** Sessions at once, all kinds together. */
  maxClients: number;
  /** Sessions one exact client address may hold, whoever it is. */
  maxClientsPerIp: number;
  /** Slots untrusted sessions may never take. */
  reservedClients: number;
  /** Untrusted sessions per IPv4 /24 or IPv6 /64. */
  maxUntrustedPerNetwork: number;
}

export type Admission =
  | { ok: true; trusted: boolean; /** an older untrusted session to close to make room (its slot is already freed) */ evict: string | null }
  | { ok: false; text: string };

interface Untrusted {
  network: string;
  /** a password check is running: not evicted (it may be about to become authenticated) */
  authenticating: boolean;
}

/**
 * Who holds the SMTP sessions, so that clients outside the relay networks cannot take every
 * slot. A session from the relay networks is trusted; any other is untrusted until it
 * authenticates. Untrusted sessions may fill at most maxClients − reservedClients, and each
 * /24 (IPv6 /64) at most maxUntrustedPerNetwork. When the untrusted share (or every slot) is
 * full, a newcomer takes the slot of the oldest untrusted session not in a password check: idle
 * connections cannot keep a relay-network client out, nor a real user from reaching AUTH; they
 * can only push each other out. An evicted session no longer counts from the moment it is chosen.
 */
export function createSessionSlots(options: SessionSlotOptions, isTrusted: (ip: string) => boolean) {
  const ipOf = new Map<string, string>();
  /** Chosen to make room, not closed yet: they hold their address's count, not a slot. */
  const evicted = new Set<string>();
  const perIp = new Map<string, number>();
  /** In admission order: the first is the oldest. */
  const untrusted = new Map<string, Untrusted>();
  const perNetwork = new Map<string, number>();
  const untrustedMax = Math.max(0, options.maxClients - options.reservedClients);

  const dec = (m: Map<string, number>, k: string) => {
    const n = (m.get(k) ?? 1) - 1;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };

  function oldestIdle(): string | null {
    for (const [other, u] of untrusted) if (!u.authenticating) return other;
    return null;
  }

  function evict(id: string): void {
    leaveUntrusted(id);
    evicted.add(id);
  }

  function leaveUntrusted(id: string): void {
    const u = untrusted.get(id);
    if (!u) return;
    untrusted.delete(id);
    dec(perNetwork, u.network);
  }

  return {
    admit(id: string, ip: string): Admission {
      const held = perIp.get(ip) ?? 0;
      if (held >= options.maxClientsPerIp) {
        return { ok: false, text: `4.7.0 Too many connections from your address (at most ${options.maxClientsPerIp}), try again later` };
      }
      const trusted = isTrusted(ip);
      let out: string | null = null;
      const network = trusted ? null : clientKeys(ip).network;
      if (network !== null) {
        if ((perNetwork.get(network) ?? 0) >= options.maxUntrustedPerNetwork) {
          return { ok: false, text: `4.7.0 Too many unauthenticated connections from your network (at most ${options.maxUntrustedPerNetwork}), try again later` };
        }
        if (untrusted.size >= untrustedMax) {
          out = oldestIdle();
          if (out === null) return { ok: false, text: '4.7.0 Too many unauthenticated connections, try again later' };
        }
      }
      if (out === null && ipOf.size - evicted.size >= options.maxClients) {
        out = oldestIdle();
        if (out === null) return { ok: false, text: '4.7.0 Too many connections, try again in a moment' };
      }
      if (out !== null) evict(out);
      if (network !== null) {
        untrusted.set(id, { network, authenticating: false });
        perNetwork.set(network, (perNetwork.get(network) ?? 0) + 1);
      }
      perIp.set(ip, held + 1);
      ipOf.set(id, ip);
      return { ok: true, trusted, evict: out };
    },
    /** A password check starts (true) or ends (false). */
    authenticating(id: string, running: boolean): void {
      const u = untrusted.get(id);
      if (u) u.authenticating = running;
    },
    /** The session authenticated: it no longer counts as untrusted. */
    authenticated(id: string): void {
      leaveUntrusted(id);
    },
    /** Whether the session still counts as untrusted (not relay network, not authenticated, not evicted). */
    isUntrusted(id: string): boolean {
      return untrusted.has(id);
    },
    closed(id: string): void {
      const ip = ipOf.get(id);
      if (ip === undefined) return;
      ipOf.delete(id);
      evicted.delete(id);
      dec(perIp, ip);
      leaveUntrusted(id);
    },
    /** Sessions holding a slot (evicted ones on their way out excluded). */
    get size(): number {
      return ipOf.size - evicted.size;
    },
    get untrustedSize(): number {
      return untrusted.size;
    },
  };
}

export type SessionSlots = ReturnType<typeof createSessionSlots>;

/** The submission listener's slot settings (smtp.maxClients, smtp.untrusted.*). */
export function slotOptionsOf(config: SmtpConfig): SessionSlotOptions {
  return {
    maxClients: config.maxClients,
    maxClientsPerIp: config.maxClientsPerIp,
    reservedClients: config.untrusted.reservedClients,
    maxUntrustedPerNetwork: config.untrusted.maxPerNetwork,
  };
}

/**
 * The pause before the greeting, per client: smtp.greetingDelayMs (none by default) for the relay
 * networks, whose applications gain nothing from early-talker detection, and
 * smtp.untrusted.greetingDelayMs for every other client.
 */
export function greetingDelayOf(config: SmtpConfig, isTrusted: (ip: string) => boolean): (ip: string) => number {
  return (ip) => (isTrusted(ip) ? config.greetingDelayMs : config.untrusted.greetingDelayMs);
}

/**
 * Untrusted sessions' deadline to authenticate (smtp.untrusted.authTimeoutMs): `expired` runs
 * for a session that neither authenticated nor closed in time.
 */
export function createAuthDeadlines(clock: Clock, timeoutMs: number) {
  const timers = new Map<string, TimerHandle>();
  return {
    start(id: string, expired: () => void): void {
      timers.set(
        id,
        clock.setTimer(timeoutMs, () => {
          timers.delete(id);
          expired();
        }),
      );
    },
    /** The session authenticated or closed: its deadline no longer applies. */
    cancel(id: string): void {
      timers.get(id)?.cancel();
      timers.delete(id);
    },
  };
}
