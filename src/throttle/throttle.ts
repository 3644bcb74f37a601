import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { DnsResolver } from '../core/resolver.js';
import type { LimitsStore } from '../core/store.js';
import type { LimitStateRow } from '../core/store-types.js';
import { LimitTable, type BudgetRef, type LimitDefaults } from './limits.js';
import { advance, rateLimited, type SlowDownParams, type SlowDownState } from './slow-down.js';
import { WindowSet, type WindowName } from './window.js';
import { createSharedBudgets, type SharedBudgetStore } from './shared-budget.js';
import { createSharedConnections, type SharedConnectionStore } from './shared-connections.js';
import { createMxGroups } from './mx-groups.js';

/**
 * Per-destination budgets: the scheduler's DestinationGate. A destination (recipient domain)
 * draws on one budget: its own domain rule, the MX rule whose suffix its MX hosts end in
 * (shared by every such domain), or, under 'default', a budget of its own (which one, and the
 * MX lookups that decide it: mx-groups.ts).
 */
export interface ThrottleParams {
  /** How often the limits table is checked for changes (the store's limits.dataVersion). */
  reloadIntervalMs: number;
  /** How often changed budget state is written (and at stop). */
  persistIntervalMs: number;
  mxCacheTtlMs: number;
  /** A failed MX lookup is retried after this (meanwhile: the domain's own default budget). */
  mxFailureTtlMs: number;
  slowDown: SlowDownParams;
}

export interface ThrottleDeps {
  /** The limits table, its change marker and the saved budget states. */
  limits: Pick<LimitsStore, 'list' | 'states' | 'saveStates' | 'dataVersion'>;
  resolver: Pick<DnsResolver, 'resolveMx'>;
  clock: Clock;
  logger: Logger;
  defaults: LimitDefaults;
  params: ThrottleParams;
  /** Called after a reload changed the limits (the relay re-dues mail held for the old ones). */
  onLimitsChanged?: () => void;
  /**
   * A cluster's store (PostgreSQL): rate budgets are the cluster's, each send granted by the
   * store (src/throttle/shared-budget.ts). Without it, this process's own count is the budget.
   */
  shared?: SharedBudgetStore | null;
  /**
   * A cluster's store (PostgreSQL): connection limits are the cluster's, each connection opened
   * on a slot taken from the store (src/throttle/shared-connections.ts); `owner` names this node's
   * slots, `poke` wakes the scheduler when a slot it wanted is held.
   */
  connections?: { store: SharedConnectionStore; owner: string; poke?: () => void } | null;
}

interface Budget {
  key: string;
  target: string;
  /** The limits it ran under when last used. */
  ref: BudgetRef;
  windows: WindowSet;
  connections: number;
  slow: SlowDownState | null;
}

export interface BudgetView {
  bucket: string;
  target: string;
  rates: Record<WindowName, number | null>;
  effectivePerMinute: number | null;
  used: Record<WindowName, number>;
  connections: number;
  slow: SlowDownState | null;
}

/**
 * The limits, their version and the saved budgets are read by load() (start() loads first): until
 * then every destination has the defaults and a fresh budget.
 */
export function createThrottle(deps: ThrottleDeps) {
  const { limits, clock, logger, params } = deps;
  let table = new LimitTable([], deps.defaults);
  let version: number | null = null;
  const saved = new Map<string, LimitStateRow>();
  let loaded: Promise<void> | null = null;
  /** A reload in progress: a second one waits for it instead of racing it. */
  let reloading: Promise<boolean> | null = null;
  /** A save in progress: the next waits (one write of the budgets at a time, in order). */
  let saving: Promise<void> = Promise.resolve();
  const budgets = new Map<string, Budget>();
  const dirty = new Set<Budget>();
  const groups = createMxGroups({ resolver: deps.resolver, clock, logger, mxCacheTtlMs: params.mxCacheTtlMs, mxFailureTtlMs: params.mxFailureTtlMs, table: () => table });
  const refFor = groups.refFor;
  /** Per domain, the budgets its open connections were counted on (a reload may move it). */
  const open = new Map<string, { b: Budget; token: string | null }[]>();
  let reloadTimer: TimerHandle | null = null;
  let persistTimer: TimerHandle | null = null;
  let running = false;
  const shared = deps.shared ? createSharedBudgets({ store: deps.shared, clock, logger }) : null;
  const slots = deps.connections ? createSharedConnections({ ...deps.connections, clock, logger }) : null;

  function budgetOf(ref: BudgetRef): Budget {
    let b = budgets.get(ref.bucket);
    if (!b) {
      const row = saved.get(ref.bucket);
      saved.delete(ref.bucket);
      const now = clock.now();
      b = {
        key: ref.bucket,
        target: ref.target,
        ref,
        windows: WindowSet.parse(row?.windows, now),
        connections: 0,
        slow: row ? slowFromRow(row, now) : null,
      };
      budgets.set(ref.bucket, b);
    }
    b.target = ref.target;
    b.ref = ref;
    return b;
  }

  function slowFromRow(row: LimitStateRow, now: number): SlowDownState | null {
    if (row.slowPerMinute === null) return null;
    return {
      perMinute: row.slowPerMinute,
      restoreTo: row.slowRestoreTo ?? row.slowPerMinute,
      since: row.slowSince ?? now,
      until: row.slowUntil ?? now,
      nextStepAt: row.slowNextStepAt ?? row.slowUntil ?? now,
      lastHalvedAt: row.slowLastHalvedAt ?? now,
      reason: row.slowReason ?? '',
    };
  }

  /**
   * A cluster: a slow-down another node started (its saved budget state, shared by the store)
   * applies here too, while its cool-down runs; each node then eases it on the same schedule.
   * Returns how many budgets took one up.
   */
  async function adoptSlowDowns(): Promise<number> {
    const rows = await limits.states();
    const now = clock.now();
    let n = 0;
    for (const row of rows) {
      if (row.slowPerMinute === null || row.slowUntil === null || row.slowUntil <= now) continue;
      const b = budgets.get(row.bucket);
      if (!b) {
        saved.set(row.bucket, row);
        continue;
      }
      if ((row.slowLastHalvedAt ?? now) <= (b.slow?.lastHalvedAt ?? -1)) continue;
      b.slow = slowFromRow(row, now);
      n++;
      logger.info({ bucket: b.key, perMinute: row.slowPerMinute, reason: row.slowReason }, 'throttle: a slow-down started by another node applies here too');
    }
    return n;
  }

  /** Moves the slow-down along; logs when it steps or ends. */
  function advanceSlow(b: Budget, now: number): void {
    if (!b.slow) return;
    const { state, change } = advance(b.slow, now, params.slowDown);
    if (!change) return;
    b.slow = state;
    dirty.add(b);
    if (change === 'restored') logger.info({ bucket: b.key }, 'throttle: slow-down over, configured rate restored');
    else logger.info({ bucket: b.key, perMinute: state!.perMinute, restoreTo: state!.restoreTo }, 'throttle: slow-down easing');
  }

  function rates(ref: BudgetRef, b: Budget, now: number): Record<WindowName, number | null> {
    advanceSlow(b, now);
    const r = ref.limits.rates;
    if (!b.slow) return r;
    return { ...r, minute: Math.min(r.minute ?? Infinity, b.slow.perMinute) };
  }

  function schedule(domain: string, now: number, count: number): number[] {
    const ref = refFor(domain);
    const b = budgetOf(ref);
    return b.windows.schedule(now, rates(ref, b, now), count);
  }

  function load(): Promise<void> {
    loaded ??= (async () => {
      const [v, rows, states] = await Promise.all([limits.dataVersion(), limits.list(), limits.states()]);
      version = v;
      table = new LimitTable(rows, deps.defaults);
      groups.forget();
      // Budgets already used before the load (none in the relay: start() loads first) keep their state.
      for (const r of states) if (!budgets.has(r.bucket)) saved.set(r.bucket, r);
    })();
    return loaded;
  }

  function reload(force = false): Promise<boolean> {
    if (reloading) return reloading.then(() => (force ? reload(true) : false));
    reloading = reloadNow(force).finally(() => {
      reloading = null;
    });
    return reloading;
  }

  async function reloadNow(force: boolean): Promise<boolean> {
    const v = await limits.dataVersion();
    if (!force && v === version) return false;
    version = v;
    const next = new LimitTable(await limits.list(), deps.defaults);
    if (next.fingerprint === table.fingerprint) return false;
    table = next;
    groups.forget();
    logger.info({ limits: next.rules.length }, 'throttle: limits reloaded');
    try {
      deps.onLimitsChanged?.();
    } catch (err) {
      logger.error({ err }, 'throttle: limits-changed listener failed');
    }
    return true;
  }

  /** Writes the budgets that changed (and forgets the empty ones); resolves once stored. */
  function persist(): Promise<void> {
    saving = saving.then(persistNow);
    return saving;
  }

  async function persistNow(): Promise<void> {
    const now = clock.now();
    const rows: LimitStateRow[] = [];
    const gone: string[] = [];
    for (const b of budgets.values()) {
      advanceSlow(b, now);
      const used = b.windows.used(now);
      if (used.day === 0 && !b.slow && b.connections === 0) {
        // nothing left to remember: forget the budget (and its row)
        budgets.delete(b.key);
        dirty.delete(b);
        gone.push(b.key);
      }
    }
    for (const b of dirty) {
      const s = b.slow;
      rows.push({
        bucket: b.key,
        target: b.target,
        windows: JSON.stringify(b.windows.toJSON()),
        connections: b.connections,
        slowPerMinute: s?.perMinute ?? null,
        slowRestoreTo: s?.restoreTo ?? null,
        slowSince: s?.since ?? null,
        slowUntil: s?.until ?? null,
        slowNextStepAt: s?.nextStepAt ?? null,
        slowLastHalvedAt: s?.lastHalvedAt ?? null,
        slowReason: s?.reason ?? null,
        updatedAt: now,
      });
    }
    dirty.clear();
    if (rows.length === 0 && gone.length === 0) return;
    try {
      await limits.saveStates(rows, gone);
    } catch (err) {
      logger.error({ err }, 'throttle: could not save budget state (kept in memory, retried)');
      for (const r of rows) {
        const b = budgets.get(r.bucket);
        if (b) dirty.add(b);
      }
    }
  }

  /** Runs `fn` every `ms`, the next run armed once this one has finished. */
  function every(ms: number, fn: () => Promise<unknown>, set: (t: TimerHandle | null) => void): void {
    const arm = () =>
      set(
        clock.setTimer(ms, () => {
          if (!running) return;
          fn()
            .catch((err: unknown) => logger.error({ err }, 'throttle: periodic task failed'))
            .finally(() => {
              if (running) arm();
            });
        }),
      );
    arm();
  }

  return {
    // --- DestinationGate ---
    maxConnections(domain: string): number {
      const ref = refFor(domain);
      const b = budgetOf(ref);
      const mine = open.get(domain)?.length ?? 0;
      // A cluster: no more than the slots this node holds (wantConnection asks for more).
      if (slots) return mine + Math.min(slots.spare(b.key, ref.limits.connections), Math.max(0, ref.limits.connections - b.connections));
      return mine + Math.max(0, ref.limits.connections - b.connections);
    },
    /** A cluster: the scheduler has mail for more connections than maxConnections allows; a slot is asked for in the background. */
    wantConnection(domain: string): void {
      if (!slots) return;
      const ref = refFor(domain);
      if (budgetOf(ref).connections >= ref.limits.connections) return;
      slots.want(ref.bucket, ref.limits.connections);
    },
    messagesPerConnection(domain: string): number {
      return refFor(domain).limits.perConnection;
    },
    takeMessage(domain: string, now: number, waiting = 0): number | null | Promise<number | null> {
      const ref = refFor(domain);
      const b = budgetOf(ref);
      const r = rates(ref, b, now);
      dirty.add(b);
      // A cluster: a limited budget's sends are granted by the store (counted there when granted).
      if (shared && (r.minute !== null || r.hour !== null || r.day !== null)) return shared.take(b, r, now, 1 + waiting);
      const [at] = b.windows.schedule(now, r, 1);
      if (at! > now) return at!;
      b.windows.take(now);
      return null;
    },
    learn: groups.learn,
    readyAt(domain: string, now: number): number | null {
      const [at] = schedule(domain, now, 1);
      return at! > now ? at! : null;
    },
    releaseTimes(domain: string, now: number, count: number): number[] {
      return schedule(domain, now, count);
    },
    connectionOpened(domain: string): void {
      const b = budgetOf(refFor(domain));
      b.connections++;
      dirty.add(b);
      const entry = { b, token: slots ? slots.opened(b.key) : null };
      const list = open.get(domain);
      if (list) list.push(entry);
      else open.set(domain, [entry]);
    },
    connectionClosed(domain: string): void {
      const list = open.get(domain);
      const entry = list?.pop();
      if (!list || !entry) return;
      if (list.length === 0) open.delete(domain);
      const b = entry.b;
      slots?.closed(b.key, entry.token);
      b.connections = Math.max(0, b.connections - 1);
      dirty.add(b);
    },

    // --- adaptive slow-down ---
    /** The destination said "too fast": halve its per-minute rate for a cool-down. */
    rateLimited(domain: string, reason: string): void {
      const now = clock.now();
      const ref = refFor(domain);
      const b = budgetOf(ref);
      advanceSlow(b, now);
      const current = Math.min(ref.limits.rates.minute ?? Infinity, b.slow?.perMinute ?? Infinity);
      const { state, change } = rateLimited(
        b.slow,
        now,
        Number.isFinite(current) ? current : null,
        b.windows.windows.minute.used(now),
        reason,
        params.slowDown,
      );
      b.slow = state;
      dirty.add(b);
      // A cluster: saved at once, for the other nodes to take up at their next check.
      if (change === 'halved' && shared) void persist();
      if (change === 'halved') {
        logger.warn(
          { bucket: b.key, domain, target: b.target, perMinute: state.perMinute, restoreTo: state.restoreTo, until: new Date(state.until).toISOString(), reason },
          'throttle: destination says we are sending too fast: rate halved',
        );
      }
    },

    // --- lifecycle and views ---
    /** Re-reads the limits table now (SIGHUP / `ferry reload`), not at the next interval. */
    reloadLimits(): Promise<boolean> {
      return reload(true);
    },
    /** A limit was changed in this process (the console): re-read now, in the background; a failure is logged and the next interval tries again. */
    limitsChanged(): void {
      reload(true).catch((err: unknown) => logger.error({ err }, 'throttle: reloading the limits failed (the next interval tries again)'));
    },
    /** Reads the limits and the saved budgets (once); start() does it first. */
    load,
    /** Loads, then checks the limits every reloadIntervalMs and saves budgets every persistIntervalMs. */
    async start(): Promise<void> {
      if (running) return;
      running = true;
      await load();
      every(
        params.reloadIntervalMs,
        async () => {
          await reload();
          if (shared) await adoptSlowDowns();
        },
        (t) => (reloadTimer = t),
      );
      every(params.persistIntervalMs, persist, (t) => (persistTimer = t));
      slots?.start((bucket) => budgets.get(bucket)?.ref.limits.connections ?? deps.defaults.connections);
    },
    /** Stops the timers and writes the state one last time (call it before the store closes). */
    async stop(): Promise<void> {
      running = false;
      reloadTimer?.cancel();
      persistTimer?.cancel();
      await persist();
      await slots?.stop();
    },
    reload,
    persist,
    adoptSlowDowns,
    /** A cluster's connection slots held by this node (tests, metrics); null on a single node. */
    connectionSlots: slots,
    /** Budgets with no room for a message right now (the metrics gauge). */
    heldBack(): number {
      const now = clock.now();
      let n = 0;
      for (const b of budgets.values()) {
        const [at] = b.windows.schedule(now, rates(b.ref, b, now), 1);
        if (at! > now) n++;
      }
      return n;
    },
    /** What a budget looks like now (tests, metrics). */
    view(domain: string): BudgetView {
      const now = clock.now();
      const ref = refFor(domain);
      const b = budgetOf(ref);
      const r = rates(ref, b, now);
      return { bucket: b.key, target: b.target, rates: { ...ref.limits.rates }, effectivePerMinute: r.minute, used: b.windows.used(now), connections: b.connections, slow: b.slow };
    },
    get limits(): LimitTable {
      return table;
    },
  };
}

export type Throttle = ReturnType<typeof createThrottle>;
