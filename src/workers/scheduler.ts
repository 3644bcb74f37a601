import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Deliverer } from '../deliver/deliverer.js';
import type { Spool } from '../spool/spool.js';
import type { QueueStore } from '../store/queue-store.js';
import type { RecipientRow } from '../store/recipients-repo.js';
import type { OutcomeApplier } from '../outcome/apply.js';
import { runDestinationWorker, type PreparedMessage } from './destination-worker.js';

/**
 * Limits per destination (the throttle answers these; without one, the defaults apply).
 * A destination is the recipient domain.
 */
export interface DestinationGate {
  /** How many connections this destination may have open at once. */
  maxConnections(domain: string): number;
  /** How many messages one connection may carry. */
  messagesPerConnection(domain: string): number;
  /**
   * Asks to send one message now. null: go ahead (the message is counted); a number: the
   * time when the destination will have budget again.
   */
  takeMessage(domain: string, now: number): number | null;
}

export interface SchedulerOptions {
  queue: QueueStore;
  spool: Spool;
  deliverer: Deliverer;
  outcome: OutcomeApplier;
  clock: Clock;
  logger: Logger;
  /** This node's name on leases: a restart releases exactly what this node held. */
  owner: string;
  concurrency: number;
  leaseMs: number;
  gate: DestinationGate;
  /** Signing and any last change to the headers before the first delivery. */
  prepare?: (messageId: string) => Promise<PreparedMessage | null>;
  /** Upper bound on recipients claimed but not finished (memory bound). */
  maxInFlight?: number;
  /** Longest sleep when nothing is due, so queue changes made by the CLI are noticed. */
  idleWakeMs?: number;
}

export interface Destination {
  domain: string;
  /** Claimed recipients grouped by message, oldest first; taken by workers one message at a time. */
  pending: Map<string, RecipientRow[]>;
  active: number;
}

export interface Scheduler {
  start(): void;
  /** New mail was committed: look now rather than at the next timer. */
  poke(): void;
  /** Stop claiming; give back what is not started; wait for running deliveries up to deadlineMs. */
  stop(deadlineMs: number): Promise<void>;
  readonly stats: { inFlight: number; connections: number; destinations: number };
}

const CLAIM_BATCH = 500;

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const { queue, clock, logger } = opts;
  const maxInFlight = opts.maxInFlight ?? 20_000;
  const idleWakeMs = opts.idleWakeMs ?? 5_000;
  const destinations = new Map<string, Destination>();
  const running = new Set<Promise<void>>();
  const abort = new AbortController();
  let inFlight = 0;
  let connections = 0;
  let timer: TimerHandle | null = null;
  let wakeAt = Infinity;
  let stopped = false;
  let pokeQueued = false;

  function pump(): void {
    if (stopped) return;
    const now = clock.now();
    while (inFlight < maxInFlight) {
      const rows = queue.recipients.claim(now, now + opts.leaseMs, opts.owner, Math.min(CLAIM_BATCH, maxInFlight - inFlight));
      for (const r of rows) {
        let d = destinations.get(r.domain);
        if (!d) {
          d = { domain: r.domain, pending: new Map(), active: 0 };
          destinations.set(r.domain, d);
        }
        const group = d.pending.get(r.messageId);
        if (group) group.push(r);
        else d.pending.set(r.messageId, [r]);
      }
      inFlight += rows.length;
      if (rows.length < CLAIM_BATCH) break;
    }
    dispatch();
    scheduleWake();
  }

  function dispatch(): void {
    for (const d of destinations.values()) {
      const cap = Math.max(1, opts.gate.maxConnections(d.domain));
      // One more connection only while messages wait that the open ones have not taken.
      while (!stopped && connections < opts.concurrency && d.active < cap && d.pending.size > d.active) {
        startWorker(d);
      }
      if (d.active === 0 && d.pending.size === 0) destinations.delete(d.domain);
    }
  }

  function startWorker(d: Destination): void {
    connections++;
    d.active++;
    const p = runDestinationWorker(d, {
      queue,
      spool: opts.spool,
      deliverer: opts.deliverer,
      outcome: opts.outcome,
      clock,
      logger,
      gate: opts.gate,
      prepare: opts.prepare,
      signal: abort.signal,
      finished: (n) => {
        inFlight -= n;
      },
    })
      .catch((err: unknown) => logger.error({ err, domain: d.domain }, 'delivery worker failed'))
      .finally(() => {
        connections--;
        d.active--;
        running.delete(p);
        if (!stopped) poke();
      });
    running.add(p);
  }

  function scheduleWake(): void {
    const next = queue.recipients.nextDueAt();
    const now = clock.now();
    const at = Math.min(next ?? Infinity, now + idleWakeMs);
    if (timer && at >= wakeAt) return;
    timer?.cancel();
    wakeAt = at;
    timer = clock.setTimer(Math.max(0, at - now), () => {
      timer = null;
      wakeAt = Infinity;
      pump();
    });
  }

  function poke(): void {
    if (stopped || pokeQueued) return;
    pokeQueued = true;
    // Coalesce: a burst of commits triggers one claim query, not one each.
    setImmediate(() => {
      pokeQueued = false;
      pump();
    });
  }

  return {
    start() {
      pump();
    },
    poke,
    async stop(deadlineMs) {
      stopped = true;
      timer?.cancel();
      const now = clock.now();
      let released = 0;
      for (const d of destinations.values()) {
        for (const rows of d.pending.values()) {
          for (const r of rows) {
            queue.recipients.release(r.id, now);
            released++;
          }
        }
        d.pending.clear();
      }
      inFlight -= released;
      if (running.size > 0) {
        let expired = false;
        const deadline = new Promise<void>((resolve) => clock.setTimer(deadlineMs, () => { expired = true; resolve(); }));
        await Promise.race([Promise.all(running), deadline]);
        if (expired && running.size > 0) {
          logger.warn({ connections: running.size }, 'deliveries still running at the shutdown deadline: aborting (their recipients are retried after restart)');
          abort.abort();
          await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 2000).unref())]);
        }
      }
      logger.info({ released }, 'scheduler stopped');
    },
    get stats() {
      return { inFlight, connections, destinations: destinations.size };
    },
  };
}
