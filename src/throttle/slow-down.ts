/**
 * Adaptive slow-down, pure: a destination that says "too fast" gets half its per-minute rate
 * (never below 1 per minute) for a cool-down; then the rate doubles every step until it is back
 * where it was. Another "too fast" while slowed halves again, but at most once per
 * minHalvingIntervalMs: one throttled connection reports the same thing for many messages.
 */
export interface SlowDownParams {
  cooldownMs: number;
  restoreStepMs: number;
  minHalvingIntervalMs: number;
}

export interface SlowDownState {
  /** The per-minute rate in force while slowed. */
  perMinute: number;
  /** The per-minute rate to come back to; reached: the slow-down ends. */
  restoreTo: number;
  since: number;
  /** End of the cool-down; restoring starts then. */
  until: number;
  /** Next doubling, once the cool-down is over. */
  nextStepAt: number;
  lastHalvedAt: number;
  reason: string;
}

export type SlowDownChange = 'halved' | 'extended' | 'stepped' | 'restored' | null;

/**
 * A rate-limit reply arrived. `current` is the per-minute rate in force (configured or already
 * slowed); with no per-minute limit, `observed` (sends in the last minute) is the rate to halve.
 */
export function rateLimited(
  state: SlowDownState | null,
  now: number,
  current: number | null,
  observed: number,
  reason: string,
  p: SlowDownParams,
): { state: SlowDownState; change: SlowDownChange } {
  if (state && now - state.lastHalvedAt < p.minHalvingIntervalMs) {
    return { state: { ...state, until: now + p.cooldownMs, nextStepAt: now + p.cooldownMs, reason }, change: 'extended' };
  }
  const base = state?.perMinute ?? current ?? Math.max(1, observed);
  const perMinute = Math.max(1, Math.floor(base / 2));
  return {
    state: {
      perMinute,
      restoreTo: state?.restoreTo ?? Math.max(base, 1),
      since: state?.since ?? now,
      until: now + p.cooldownMs,
      nextStepAt: now + p.cooldownMs,
      lastHalvedAt: now,
      reason,
    },
    change: 'halved',
  };
}

/** Moves a slow-down forward to `now`: after the cool-down, one doubling per step. */
export function advance(state: SlowDownState, now: number, p: SlowDownParams): { state: SlowDownState | null; change: SlowDownChange } {
  if (now < state.until || now < state.nextStepAt) return { state, change: null };
  let perMinute = state.perMinute;
  let next = state.nextStepAt;
  while (next <= now && perMinute < state.restoreTo) {
    perMinute = Math.min(state.restoreTo, perMinute * 2);
    next += p.restoreStepMs;
  }
  if (perMinute >= state.restoreTo) return { state: null, change: 'restored' };
  return { state: { ...state, perMinute, nextStepAt: next }, change: 'stepped' };
}
