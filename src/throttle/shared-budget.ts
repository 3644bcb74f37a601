import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { WINDOWS, WINDOW_NAMES, WindowSet, type WindowName } from './window.js';

/**
 * A destination's rate budget shared by every node of a cluster (the PostgreSQL store): sends
 * are granted by the store, atomically for the whole cluster (ferry_take_budget, one statement),
 * in small batches so that most sends cost no round trip. A grant held is used first; then the
 * node's own sliding windows answer (they count what the cluster granted this node, plus the
 * cluster's usage learned at the last refusal, so they can only under-count: a "no" from them
 * is a "no" from the cluster); the store has the last word.
 *
 * Grants are counted by the cluster when taken; a grant not used within GRANT_TTL_MS is dropped
 * (still counted: a little budget lost, never a send later than the window it was counted in),
 * which is why a node asks for no more than the mail it has waiting.
 */
export interface SharedBudgetStore {
  /** Grants up to `want` sends under the limits for the whole cluster (0..want). */
  takeBudget(bucket: string, now: number, want: number, limits: { perMinute: number | null; perHour: number | null; perDay: number | null }): Promise<number>;
  /** The cluster's counted sends for the bucket, WindowSet JSON. */
  budgetWindows(bucket: string): Promise<string>;
}

/** The part of a throttle budget this module reads and replaces. */
export interface SharedBudgetRef {
  key: string;
  windows: WindowSet;
}

const GRANT_TTL_MS = 1_000;
/** Most sends taken per round trip. */
const MAX_BATCH = 10;
/** After a failed round trip (store down), the destination waits this long, never sends unchecked. */
const STORE_DOWN_WAIT_MS = 1_000;

/**
 * How many sends to ask for at once: about one slot's worth of the tightest limit (600/minute:
 * 10, one per second's slot; 20/hour: 1), so that a node holds no more than the cluster would
 * give out in one slot anyway.
 */
export function batchFor(rates: Record<WindowName, number | null>): number {
  let n = MAX_BATCH;
  for (const name of WINDOW_NAMES) {
    const limit = rates[name];
    if (limit !== null) n = Math.min(n, Math.floor(limit / 60));
  }
  return Math.max(1, n);
}

/** The shortest slot among the limited windows: when some of a spent budget can come back at the earliest. */
function shortestSlotMs(rates: Record<WindowName, number | null>): number {
  let ms = WINDOWS.day / 60;
  for (const name of WINDOW_NAMES) if (rates[name] !== null) ms = Math.min(ms, WINDOWS[name] / 60);
  return ms;
}

export function createSharedBudgets(deps: { store: SharedBudgetStore; clock: Clock; logger: Logger }) {
  const { store, clock, logger } = deps;
  const grants = new Map<string, { n: number; at: number }>();
  const refills = new Map<string, Promise<number | null>>();

  /** One round trip: returns null (something granted or held) or the time to wait until. */
  async function refill(b: SharedBudgetRef, rates: Record<WindowName, number | null>, now: number, need: number): Promise<number | null> {
    const want = Math.max(1, Math.min(batchFor(rates), need));
    let granted: number;
    try {
      granted = await store.takeBudget(b.key, now, want, { perMinute: rates.minute, perHour: rates.hour, perDay: rates.day });
    } catch (err) {
      logger.error({ err, bucket: b.key }, 'throttle: could not take budget from the shared store (the destination waits)');
      return clock.now() + STORE_DOWN_WAIT_MS;
    }
    if (granted > 0) {
      const g = grants.get(b.key);
      const fresh = g && clock.now() - g.at < GRANT_TTL_MS ? g.n : 0;
      grants.set(b.key, { n: fresh + granted, at: clock.now() });
      b.windows.take(now, granted);
    }
    if (granted === want) return null;
    // The cluster's budget is spent (or nearly): learn what every node took, so that this
    // node's readyAt/releaseTimes spread its held mail over when the budget really returns.
    try {
      b.windows = WindowSet.parse(await store.budgetWindows(b.key), clock.now());
    } catch (err) {
      logger.error({ err, bucket: b.key }, 'throttle: could not read the shared budget (held mail is planned on this node\'s count)');
    }
    if (granted > 0) return null;
    const t = clock.now();
    const [at] = b.windows.schedule(t, rates, 1);
    return at! > t ? at! : t + shortestSlotMs(rates);
  }

  return {
    /**
     * One send for the budget: null (go ahead, counted by the cluster) or when to try again.
     * `need`: the sends the caller has waiting, this one included (a round trip asks for no
     * more, so a node with little mail does not hold budget another could use). Concurrent
     * callers for one budget share one round trip.
     */
    async take(b: SharedBudgetRef, rates: Record<WindowName, number | null>, now: number, need = 1): Promise<number | null> {
      for (let round = 0; round < 3; round++) {
        const g = grants.get(b.key);
        if (g && g.n > 0 && clock.now() - g.at < GRANT_TTL_MS) {
          g.n--;
          return null;
        }
        if (g) grants.delete(b.key);
        // This node's count says no: so would the cluster (it counts at least as much).
        const t = clock.now();
        const [at] = b.windows.schedule(t, rates, 1);
        if (at! > t) return at!;
        let p = refills.get(b.key);
        if (!p) {
          p = refill(b, rates, now, need).finally(() => refills.delete(b.key));
          refills.set(b.key, p);
        }
        const wait = await p;
        if (wait !== null) return wait;
      }
      // Other workers of this node took each batch first: try again shortly.
      return clock.now() + shortestSlotMs(rates);
    },
    /** Sends granted to this node and not used yet (tests, metrics). */
    held(bucket: string): number {
      const g = grants.get(bucket);
      return g && clock.now() - g.at < GRANT_TTL_MS ? g.n : 0;
    },
  };
}

export type SharedBudgets = ReturnType<typeof createSharedBudgets>;
