import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { RecipientsStore } from '../core/store.js';

/*
 * Keeps this node's claims alive while it works on them. A claim leases recipients for leaseMs;
 * a transfer that outlives it (a slow server, a long queue behind a connection limit, DNS that
 * takes its time) would otherwise let another node — or this node's own next claim — take the
 * same recipients and send them again. Every renewEveryMs the keeper renews, in one statement,
 * the lease of everything the node still holds; what the store no longer counts as this node's
 * (the fate was written, it was released, or the lease ran out and another node claimed it) is
 * forgotten and reported through onLost, so the scheduler does not start sending it.
 */

export interface LeaseKeeperOptions {
  store: { recipients: Pick<RecipientsStore, 'renew'> };
  clock: Clock;
  logger: Logger;
  /** This node's name on leases. */
  owner: string;
  /** A renewal extends each lease to now + leaseMs. */
  leaseMs: number;
  /** Time between renewals; default a third of the lease (two renewals may fail before a lease runs out). */
  renewEveryMs?: number;
  /**
   * Recipients the keeper held that the store no longer counts as this node's. Most were just
   * finished (their fate was written while the renewal ran); some may have been taken by another
   * node, and must not be started here.
   */
  onLost?: (ids: number[]) => void;
}

export interface LeaseKeeper {
  /** Recipients just claimed: renewed from now on. */
  hold(ids: readonly number[]): void;
  /** Recipients this node is done with (fate recorded or tried, released): no longer renewed. */
  drop(ids: readonly number[]): void;
  /** Starts the periodic renewal. */
  start(): void;
  /** Stops renewing (a renewal on its way finishes). */
  stop(): void;
  /** One renewal now (tests, and the timer): resolves once the store answered. */
  renewNow(): Promise<void>;
  /** How many recipients are held. */
  readonly held: number;
  /** Renewals done and recipients renewed, for metrics and the bench. */
  readonly stats: { renewals: number; renewed: number; lost: number; failures: number };
}

export function createLeaseKeeper(opts: LeaseKeeperOptions): LeaseKeeper {
  const { clock, logger } = opts;
  const every = Math.max(1, opts.renewEveryMs ?? Math.floor(opts.leaseMs / 3));
  // id → the hold it belongs to: a renewal's answer about an id dropped and claimed again while
  // it was on its way speaks of the old hold, and must not drop the new one.
  const held = new Map<number, number>();
  let seq = 0;
  let timer: TimerHandle | null = null;
  let running = false;
  let renewing: Promise<void> | null = null;
  const stats = { renewals: 0, renewed: 0, lost: 0, failures: 0 };

  async function renewOnce(): Promise<void> {
    if (held.size === 0) return;
    // Ascending ids: rows are locked in the order fate transactions lock them (no deadlock).
    const snapshot = [...held].sort((a, b) => a[0] - b[0]);
    const ids = snapshot.map(([id]) => id);
    let renewed: number[];
    try {
      renewed = await opts.store.recipients.renew(opts.owner, ids, clock.now() + opts.leaseMs);
    } catch (err) {
      // Nothing is forgotten: the next renewal tries again; if the store stays away the leases
      // run out and the recipients are delivered again (at least once, never lost).
      stats.failures++;
      logger.error({ err, recipients: ids.length }, 'renewing leases failed (tried again at the next renewal)');
      return;
    }
    stats.renewals++;
    stats.renewed += renewed.length;
    const kept = new Set(renewed);
    const lost: number[] = [];
    for (const [id, hold] of snapshot) {
      if (kept.has(id) || held.get(id) !== hold) continue;
      held.delete(id);
      lost.push(id);
    }
    if (lost.length) {
      stats.lost += lost.length;
      opts.onLost?.(lost);
    }
  }

  function renewNow(): Promise<void> {
    // One renewal at a time: a tick that finds one on its way waits for it instead of doubling it.
    if (!renewing) renewing = renewOnce().finally(() => (renewing = null));
    return renewing;
  }

  function arm(): void {
    if (!running) return;
    timer = clock.setTimer(every, () => {
      timer = null;
      void renewNow().finally(arm);
    });
  }

  return {
    hold(ids) {
      for (const id of ids) held.set(id, ++seq);
    },
    drop(ids) {
      for (const id of ids) held.delete(id);
    },
    start() {
      if (running) return;
      running = true;
      arm();
    },
    stop() {
      running = false;
      timer?.cancel();
      timer = null;
    },
    renewNow,
    get held() {
      return held.size;
    },
    get stats() {
      return { ...stats };
    },
  };
}
