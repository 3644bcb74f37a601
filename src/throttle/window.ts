/**
 * A rate budget over one window (a minute, an hour, a day): a token bucket whose spent tokens
 * come back one window after they were spent. Unlike a bucket refilled continuously (which lets
 * 2N through in a window: the full bucket, then N more of refill), this never lets more than N
 * through in any window of that length, which is what a provider means by "N per hour".
 *
 * Sends are counted per slot of 1/60 of the window (at most ~61 numbers per window however many
 * messages), and a slot's tokens return when the slot's end is one window old: at most one slot
 * (1 s of a minute, 1 min of an hour, 24 min of a day) later than exact.
 */
export const WINDOWS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type WindowName = keyof typeof WINDOWS;
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];
const SLOTS_PER_WINDOW = 60;

export class SlidingWindow {
  readonly periodMs: number;
  readonly slotMs: number;
  /** Slot numbers (time / slotMs), ascending, and the sends counted in each. */
  private slots: number[] = [];
  private counts: number[] = [];
  private total = 0;

  constructor(periodMs: number) {
    this.periodMs = periodMs;
    this.slotMs = periodMs / SLOTS_PER_WINDOW;
  }

  /** When the tokens spent in `slot` come back. */
  private returnAt(slot: number): number {
    return (slot + 1) * this.slotMs + this.periodMs;
  }

  /** When a token spent at `at` comes back. */
  returnFor(at: number): number {
    return this.returnAt(Math.floor(at / this.slotMs));
  }

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.slots.length && this.returnAt(this.slots[drop]!) <= now) {
      this.total -= this.counts[drop]!;
      drop++;
    }
    if (drop) {
      this.slots.splice(0, drop);
      this.counts.splice(0, drop);
    }
  }

  /** Sends counted in the window ending now. */
  used(now: number): number {
    this.prune(now);
    return this.total;
  }

  take(now: number, n = 1): void {
    this.prune(now);
    const slot = Math.floor(now / this.slotMs);
    const last = this.slots.length - 1;
    if (last >= 0 && this.slots[last] === slot) this.counts[last]! += n;
    else if (last >= 0 && this.slots[last]! > slot) {
      // the clock went back: count it in the newest slot (conservative)
      this.counts[last]! += n;
    } else {
      this.slots.push(slot);
      this.counts.push(n);
    }
    this.total += n;
  }

  /**
   * When each of the next `count` sends would fit under `limit`, assuming each goes as soon as it
   * fits (non-decreasing).
   */
  schedule(now: number, limit: number, count: number): number[] {
    this.prune(now);
    const out: number[] = [];
    let free = Math.max(0, limit - this.total);
    // Tokens spent over the limit (after the limit was lowered) come back without making room.
    let excess = Math.max(0, this.total - limit);
    for (let i = 0; i < this.slots.length && out.length < count; i++) {
      let c = this.counts[i]!;
      const skip = Math.min(excess, c);
      excess -= skip;
      c -= skip;
      while (free > 0 && out.length < count) {
        out.push(now);
        free--;
      }
      const at = this.returnAt(this.slots[i]!);
      for (let j = 0; j < c && out.length < count; j++) out.push(at);
    }
    while (free > 0 && out.length < count) {
      out.push(now);
      free--;
    }
    // Beyond the known log, the k-th send uses the token of the (k - limit)-th planned one.
    for (let k = out.length; k < count; k++) {
      out.push(this.returnFor(out[k - limit]!));
    }
    return out;
  }

  toJSON(): [number, number][] {
    return this.slots.map((s, i) => [s, this.counts[i]!]);
  }

  static from(periodMs: number, data: unknown, now: number): SlidingWindow {
    const w = new SlidingWindow(periodMs);
    if (Array.isArray(data)) {
      for (const pair of data) {
        if (!Array.isArray(pair) || pair.length !== 2) continue;
        const [slot, count] = pair as [unknown, unknown];
        if (typeof slot !== 'number' || typeof count !== 'number' || !Number.isFinite(slot) || count <= 0) continue;
        if (w.slots.length && slot <= w.slots[w.slots.length - 1]!) continue;
        w.slots.push(slot);
        w.counts.push(count);
        w.total += count;
      }
    }
    w.prune(now);
    return w;
  }
}

/** The three windows of one budget. */
export class WindowSet {
  readonly windows: Record<WindowName, SlidingWindow>;

  constructor(windows?: Record<WindowName, SlidingWindow>) {
    this.windows = windows ?? {
      minute: new SlidingWindow(WINDOWS.minute),
      hour: new SlidingWindow(WINDOWS.hour),
      day: new SlidingWindow(WINDOWS.day),
    };
  }

  take(now: number, n = 1): void {
    for (const name of WINDOW_NAMES) this.windows[name].take(now, n);
  }

  used(now: number): Record<WindowName, number> {
    return { minute: this.windows.minute.used(now), hour: this.windows.hour.used(now), day: this.windows.day.used(now) };
  }

  /**
   * When each of the next `count` sends fits under every limit given (null: no limit on that
   * window). A send goes when all its windows have room, and its tokens return from then.
   */
  schedule(now: number, limits: Record<WindowName, number | null>, count: number): number[] {
    const active = WINDOW_NAMES.filter((n) => limits[n] !== null);
    if (active.length === 0) return new Array<number>(count).fill(now);
    if (active.length === 1) {
      const n = active[0]!;
      return this.windows[n].schedule(now, limits[n]!, count);
    }
    // Several windows: the k-th send goes at the latest of their times. Each window's first
    // `limit` tokens come from its log; after that, from the sends planned here.
    const result: number[] = [];
    const per = active.map((n) => {
      const w = this.windows[n];
      const limit = limits[n]!;
      return { w, limit, base: w.schedule(now, limit, Math.min(count, limit)) };
    });
    for (let k = 0; k < count; k++) {
      let t = now;
      for (const p of per) {
        const v = k < p.limit ? p.base[k]! : p.w.returnFor(result[k - p.limit]!);
        if (v > t) t = v;
      }
      result.push(t);
    }
    return result;
  }

  toJSON(): Record<WindowName, [number, number][]> {
    return { minute: this.windows.minute.toJSON(), hour: this.windows.hour.toJSON(), day: this.windows.day.toJSON() };
  }

  static parse(json: string | null | undefined, now: number): WindowSet {
    let data: Record<string, unknown> = {};
    try {
      const parsed = json ? (JSON.parse(json) as unknown) : {};
      if (parsed && typeof parsed === 'object') data = parsed as Record<string, unknown>;
    } catch {
      // a damaged row starts empty: the budget is re-learned, it never blocks delivery forever
    }
    return new WindowSet({
      minute: SlidingWindow.from(WINDOWS.minute, data['minute'], now),
      hour: SlidingWindow.from(WINDOWS.hour, data['hour'], now),
      day: SlidingWindow.from(WINDOWS.day, data['day'], now),
    });
  }
}

