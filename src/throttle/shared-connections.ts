import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * A destination's connection limit shared by every node of a cluster (the PostgreSQL store): a
 * node opens a connection only on a slot it holds, taken from the store (ferry_take_connection:
 * one statement, refused at the limit counted over the whole cluster). Slots held are renewed
 * every SLOT_TTL_MS / 3 in one statement; a node that dies stops renewing and its slots expire
 * after SLOT_TTL_MS (a restarted node gives its own back at start, store/postgres/engine.ts).
 *
 * The scheduler's dispatch is synchronous: `spare` answers from what this node holds; `want`
 * asks the store for one more slot in the background (one request in flight per bucket, none
 * for BACKOFF_MS after a refusal) and `poke`s the scheduler when it has one. A slot not in use
 * (just taken, or its connection just closed) is kept SPARE_KEEP_MS for the next connection,
 * then given back.
 */
export interface SharedConnectionStore {
  /** Holds one of the bucket's `limit` slots for the cluster until `until` (false: the cluster is at the limit). */
  takeConnection(bucket: string, owner: string, token: string, limit: number, now: number, until: number): Promise<boolean>;
  /** Moves `until` of the owner's slots still live; returns the tokens renewed. */
  renewConnections(owner: string, tokens: string[], now: number, until: number): Promise<string[]>;
  releaseConnection(bucket: string, token: string): Promise<void>;
  releaseConnectionsOf(owner: string): Promise<number>;
}

export const SLOT_TTL_MS = 30_000;
/** After a refusal (or a failed round trip), the bucket's next ask waits this long. */
export const BACKOFF_MS = 1_000;
/** A slot not in use is given back after this. */
export const SPARE_KEEP_MS = 1_000;

interface Slots {
  bucket: string;
  /** Tokens held by open connections. */
  used: Set<string>;
  /** Tokens held and not in use, with the time each became spare. */
  spare: Map<string, number>;
  asking: boolean;
  /** No ask before this (after a refusal). */
  backoffUntil: number;
}

export function createSharedConnections(deps: { store: SharedConnectionStore; owner: string; clock: Clock; logger: Logger; poke?: () => void }) {
  const { store, owner, clock, logger } = deps;
  const buckets = new Map<string, Slots>();
  let renewTimer: TimerHandle | null = null;
  let sweepTimer: TimerHandle | null = null;
  let running = true;

  function slotsOf(bucket: string): Slots {
    let s = buckets.get(bucket);
    if (!s) {
      s = { bucket, used: new Set(), spare: new Map(), asking: false, backoffUntil: 0 };
      buckets.set(bucket, s);
    }
    return s;
  }

  function poke(): void {
    try {
      deps.poke?.();
    } catch (err) {
      logger.error({ err }, 'throttle: poking the scheduler failed');
    }
  }

  function giveBack(s: Slots, token: string): void {
    s.spare.delete(token);
    store.releaseConnection(s.bucket, token).catch((err: unknown) => logger.error({ err, bucket: s.bucket }, 'throttle: could not give a connection slot back (it expires by itself)'));
    if (s.used.size === 0 && s.spare.size === 0 && !s.asking) buckets.delete(s.bucket);
  }

  /** Gives back the spare slots kept longer than SPARE_KEEP_MS. */
  function sweep(): void {
    sweepTimer = null;
    const now = clock.now();
    let next = Infinity;
    for (const s of [...buckets.values()]) {
      for (const [token, since] of [...s.spare]) {
        if (now - since >= SPARE_KEEP_MS) giveBack(s, token);
        else next = Math.min(next, since + SPARE_KEEP_MS);
      }
    }
    if (next < Infinity) armSweep(next - now);
  }

  function armSweep(ms: number): void {
    if (sweepTimer || !running) return;
    sweepTimer = clock.setTimer(ms, sweep);
  }

  function addSpare(s: Slots, token: string): void {
    s.spare.set(token, clock.now());
    armSweep(SPARE_KEEP_MS);
  }

  async function ask(s: Slots, limit: number): Promise<void> {
    const token = randomUUID();
    const now = clock.now();
    let ok = false;
    try {
      ok = await store.takeConnection(s.bucket, owner, token, limit, now, now + SLOT_TTL_MS);
    } catch (err) {
      logger.error({ err, bucket: s.bucket }, 'throttle: could not take a connection slot from the shared store (the destination waits)');
    }
    s.asking = false;
    if (ok && !running) {
      giveBack(s, token);
      return;
    }
    if (ok) {
      addSpare(s, token);
      poke();
      return;
    }
    // Refused (the cluster is at the limit) or the store is down: ask again after a back-off,
    // and wake the scheduler then, so mail still waiting asks again.
    s.backoffUntil = clock.now() + BACKOFF_MS;
    clock.setTimer(BACKOFF_MS, () => {
      if (running) poke();
    });
    if (s.used.size === 0 && s.spare.size === 0) buckets.delete(s.bucket);
  }

  /** Renews every slot held in one statement; a slot that expired meanwhile is taken again if in use. */
  async function renew(limitOf: (bucket: string) => number): Promise<void> {
    const all: string[] = [];
    for (const s of buckets.values()) all.push(...s.used, ...s.spare.keys());
    if (all.length === 0) return;
    const now = clock.now();
    let renewed: Set<string>;
    try {
      renewed = new Set(await store.renewConnections(owner, all, now, now + SLOT_TTL_MS));
    } catch (err) {
      logger.error({ err }, 'throttle: could not renew the connection slots (tried again at the next renewal)');
      return;
    }
    for (const s of [...buckets.values()]) {
      for (const token of [...s.spare.keys()]) if (!renewed.has(token)) s.spare.delete(token);
      for (const token of s.used) {
        if (renewed.has(token)) continue;
        // Lost (this node was too slow to renew): the connection is open, so take its slot again.
        const ok = await store.takeConnection(s.bucket, owner, token, limitOf(s.bucket), now, now + SLOT_TTL_MS).catch(() => false);
        if (!ok) logger.warn({ bucket: s.bucket }, 'throttle: a connection slot expired while its connection was open and the cluster is at the limit (over it until the connection closes)');
      }
    }
  }

  return {
    /** Spare slots this node holds for the bucket: connections it may open now (open plus spare: at most `limit`). */
    spare(bucket: string, limit: number): number {
      const s = buckets.get(bucket);
      if (!s) return 0;
      // The limit was lowered: spare slots above it go back.
      for (const token of [...s.spare.keys()]) {
        if (s.used.size + s.spare.size <= limit) break;
        giveBack(s, token);
      }
      return s.spare.size;
    },
    /** The scheduler wants one more connection than it holds slots for: ask the store (in the background). */
    want(bucket: string, limit: number): void {
      if (!running) return;
      const s = slotsOf(bucket);
      if (s.asking || s.spare.size > 0 || s.used.size >= limit || clock.now() < s.backoffUntil) {
        if (s.used.size === 0 && s.spare.size === 0 && !s.asking) buckets.delete(bucket);
        return;
      }
      s.asking = true;
      void ask(s, limit);
    },
    /** A connection opens on a spare slot: its token (null: none was held, the caller opened beyond its slots). */
    opened(bucket: string): string | null {
      const s = buckets.get(bucket);
      const token = s?.spare.keys().next().value;
      if (!s || token === undefined) return null;
      s.spare.delete(token);
      s.used.add(token);
      return token;
    },
    /** Its connection closed: the slot is kept spare a moment for the next one, then given back. */
    closed(bucket: string, token: string | null): void {
      if (token === null) return;
      const s = buckets.get(bucket);
      if (!s || !s.used.delete(token)) return;
      if (running) addSpare(s, token);
      else giveBack(s, token);
    },
    /** Renews the slots every SLOT_TTL_MS / 3 until stop(). */
    start(limitOf: (bucket: string) => number): void {
      running = true;
      const arm = () => {
        renewTimer = clock.setTimer(SLOT_TTL_MS / 3, () => {
          if (!running) return;
          renew(limitOf)
            .catch((err: unknown) => logger.error({ err }, 'throttle: renewing connection slots failed'))
            .finally(() => {
              if (running) arm();
            });
        });
      };
      arm();
    },
    renew,
    /** Gives back every slot this node holds (call it after the scheduler stopped, before the store closes). */
    async stop(): Promise<void> {
      running = false;
      renewTimer?.cancel();
      sweepTimer?.cancel();
      sweepTimer = null;
      buckets.clear();
      try {
        await store.releaseConnectionsOf(owner);
      } catch (err) {
        logger.error({ err }, 'throttle: could not give the connection slots back at stop (they expire by themselves)');
      }
    },
    /** Slots held for the bucket: in use and spare (tests, metrics). */
    held(bucket: string): { used: number; spare: number } {
      const s = buckets.get(bucket);
      return { used: s?.used.size ?? 0, spare: s?.spare.size ?? 0 };
    },
  };
}

export type SharedConnections = ReturnType<typeof createSharedConnections>;
