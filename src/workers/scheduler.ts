import { setMaxListeners } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Deliverer } from '../deliver/deliverer.js';
import type { Spool } from '../spool/spool.js';
import type { MessagesStore, RecipientsStore } from '../core/store.js';
import type { MessageRow, RecipientRow } from '../core/store-types.js';
import type { OutcomeApplier } from '../outcome/apply.js';
import type { Destination, DestinationGate } from './destination.js';
import { holdBack, runDestinationWorker } from './destination-worker.js';
import { createLeaseKeeper, type LeaseKeeper } from './lease-keeper.js';
import { createTurnBudget, DELIVERY_TURN_BUDGET_MS } from './turn-budget.js';
import { createIntakeFirst, type IntakeFirst, type IntakeFirstOptions, type IntakeFirstStats } from './intake-first.js';
import type { SigningStage } from '../sign/prepare.js';

export interface SchedulerOptions {
  /**
   * Claims, releases, the next due time and the messages the workers read, through the Store
   * (the relay: writes on the writer thread, off this event loop).
   */
  store: { recipients: Pick<RecipientsStore, 'claim' | 'releaseMany' | 'nextDueAt' | 'renew'>; messages: Pick<MessagesStore, 'get'> };
  spool: Spool;
  deliverer: Deliverer;
  outcome: OutcomeApplier;
  clock: Clock;
  logger: Logger;
  /** This node's name on leases: a restart releases exactly what this node held. */
  owner: string;
  concurrency: number;
  leaseMs: number;
  /** Time between lease renewals of what this node holds (default a third of leaseMs). */
  renewEveryMs?: number;
  gate: DestinationGate;
  /** The sign stage: DKIM and any last change to the headers before the first delivery. */
  signing?: SigningStage;
  /** The MAIL FROM for one transaction (VERP return paths); absent: the message's envelope sender. */
  envelopeSender?: (message: MessageRow, rows: readonly RecipientRow[]) => string;
  /**
   * One SMTP transaction per recipient instead of per message (VERP: each recipient gets a return
   * path that names it alone, so a bounce can only ever speak for the recipient it came from).
   */
  transactionPerRecipient?: boolean;
  /** Ends a message whose stored body is gone and reports it (outcome/fate, origin lost-body). */
  expireLostBody?: (messageId: string, reason: string) => Promise<unknown> | void;
  /**
   * Expires waiting recipients whose maximum age has passed and whose next attempt lies beyond
   * it; returns how many. Run at most once a second, at the scheduler's wakes (at least every
   * idleWakeMs), so a recipient expires within seconds of its expiry time.
   */
  expireOverdue?: (now: number) => Promise<number> | number;
  /** Upper bound on recipients claimed but not finished (memory bound). */
  maxInFlight?: number;
  /** Longest sleep when nothing is due, so queue changes made by the CLI are noticed. */
  idleWakeMs?: number;
  /**
   * A connection with nothing more to send waits this long for the next claim to bring its
   * destination more mail before it closes (default 0: closes at once). Woken early when a
   * destination waits for a connection an idle one holds.
   */
  idleConnectionMs?: number;
  /**
   * Synchronous work the delivery workers start per turn of the event loop (ms; default
   * DELIVERY_TURN_BUDGET_MS; 0: no limit): a burst of messages starting at once waits for later
   * turns rather than holding the SMTP sessions' loop (turn-budget.ts).
   */
  turnBudgetMs?: number;
  /**
   * Intake over delivery (intake-first.ts): while messages are being accepted (accepted()) and
   * this thread's event loop is short of time, delivery starts take a bounded share. Default on
   * with its defaults; false: delivery never yields.
   */
  intakeFirst?: IntakeFirstOptions | false;
}

export interface Scheduler {
  start(): void;
  /** New mail was committed: look now rather than at the next timer. */
  poke(): void;
  /** `count` messages were accepted from SMTP clients (committed): pokes, and tells intake-first that intake is active. */
  accepted(count: number): void;
  /** Stop claiming; give back what is not started; wait for running deliveries up to deadlineMs. */
  stop(deadlineMs: number): Promise<void>;
  readonly stats: { inFlight: number; connections: number; destinations: number; leases: LeaseKeeper['stats']; intakeFirst: IntakeFirstStats | null };
}

const CLAIM_BATCH = 500;

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const { store, clock, logger } = opts;
  const maxInFlight = opts.maxInFlight ?? 20_000;
  const idleWakeMs = opts.idleWakeMs ?? 5_000;
  const destinations = new Map<string, Destination>();
  const running = new Set<Promise<void>>();
  const abort = new AbortController();
  // Every open connection listens on this one signal.
  setMaxListeners(0, abort.signal);
  let inFlight = 0;
  let connections = 0;
  let timer: TimerHandle | null = null;
  let wakeAt = Infinity;
  let stopped = false;
  let pokeQueued = false;

  let nextExpirySweepAt = -Infinity;
  const turnBudgetMs = opts.turnBudgetMs ?? DELIVERY_TURN_BUDGET_MS;
  const turns = turnBudgetMs > 0 ? createTurnBudget({ budgetMs: turnBudgetMs }) : undefined;
  const pace: IntakeFirst | undefined = opts.intakeFirst === false ? undefined : createIntakeFirst({ ...opts.intakeFirst });

  // Every recipient claimed and not yet finished keeps its lease while it waits for a connection
  // and while it is sent, however long that takes (lease-keeper.ts).
  const leases = createLeaseKeeper({
    store,
    clock,
    logger,
    owner: opts.owner,
    leaseMs: opts.leaseMs,
    ...(opts.renewEveryMs !== undefined ? { renewEveryMs: opts.renewEveryMs } : {}),
    onLost: (ids) => forgetLost(ids),
  });
  // What the workers write about recipients ends their hold: an outcome recorded (or failing to
  // be: then the lease must run out so the recipients are tried again), a release.
  // (No spread of `store`: main.ts hands a deferred store whose engine getter throws until it opens.)
  const workerStore = {
    messages: store.messages,
    recipients: {
      releaseMany: (items: { id: number; at: number; reason?: string | null }[]) => {
        leases.drop(items.map((i) => i.id));
        return store.recipients.releaseMany(items).then(() => dueAgain(items));
      },
    },
  };
  const workerOutcome: OutcomeApplier = {
    ...opts.outcome,
    applySoon: (items, ctx) =>
      opts.outcome.applySoon(items, ctx).then(
        (applied) => {
          leases.drop(items.map((i) => i.recipient.id));
          dueAgainAfter(applied);
          return applied;
        },
        (err: unknown) => {
          leases.drop(items.map((i) => i.recipient.id));
          throw err;
        },
      ),
  };

  /** Leases this node no longer holds: recipients not yet started are not sent here. */
  function forgetLost(ids: number[]): void {
    const lost = new Set(ids);
    let removed = 0;
    for (const d of destinations.values()) {
      for (const [key, rows] of d.pending) {
        const left = rows.filter((r) => !lost.has(r.id));
        if (left.length === rows.length) continue;
        removed += rows.length - left.length;
        if (left.length) d.pending.set(key, left);
        else d.pending.delete(key);
      }
      if (d.active === 0 && d.pending.size === 0 && !d.learning) destinations.delete(d.domain);
    }
    if (removed) {
      inFlight -= removed;
      logger.warn({ recipients: removed }, 'leases lost before sending (claimed by another node after they ran out, or ended meanwhile): not sent here');
      poke();
    }
  }

  function releaseMany(items: { id: number; at: number; reason?: string | null }[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    leases.drop(items.map((i) => i.id));
    // A release that fails leaves the lease to run out: the rows become due again by themselves.
    return store.recipients.releaseMany(items).then(
      () => dueAgain(items),
      (err: unknown) => logger.error({ err, recipients: items.length }, 'releasing claimed recipients failed (their leases run out instead)'),
    );
  }

  /**
   * What this node itself made due again (released, deferred) wakes the scheduler at that time:
   * a claim that found rows does not read the next due time (below), so these are what it would
   * have found. (What others write — the CLI, another node — is seen at the next claim that
   * finds nothing, or at the idle wake, as before.)
   */
  function dueAgain(items: readonly { at: number }[]): void {
    let at = Infinity;
    for (const i of items) if (i.at < at) at = i.at;
    if (at !== Infinity && !stopped) wakeFor(at);
  }
  function dueAgainAfter(applied: readonly { decision: { nextAttemptAt: number | null } }[]): void {
    let at = Infinity;
    for (const a of applied) {
      const next = a.decision.nextAttemptAt;
      if (next !== null && next < at) at = next;
    }
    if (at !== Infinity && !stopped) wakeFor(at);
  }

  // One claim at a time: a poke while a claim is on its way to the store runs one more pass after it.
  let claiming = false;
  let pumpAgain = false;

  function pump(): void {
    if (stopped) return;
    if (claiming) {
      pumpAgain = true;
      return;
    }
    const now = clock.now();
    if (opts.expireOverdue && now >= nextExpirySweepAt) {
      nextExpirySweepAt = now + 1000;
      const failed = (err: unknown) => logger.error({ err }, 'expiring overdue recipients failed (tried again at the next wake)');
      try {
        void Promise.resolve(opts.expireOverdue(now)).catch(failed);
      } catch (err) {
        failed(err);
      }
    }
    if (inFlight >= maxInFlight) return afterClaim([]);
    const limit = Math.min(CLAIM_BATCH, maxInFlight - inFlight);
    claiming = true;
    // While the claim is on its way a wake stays armed: a clock that moves on meanwhile (a test's
    // manual clock, advanced while the answer travels) still finds a timer to fire.
    if (!timer) armWake(now + idleWakeMs, now);
    store.recipients.claim(now, now + opts.leaseMs, opts.owner, limit).then(
      (rows) => {
        claiming = false;
        if (stopped) {
          // stop() ran while the claim was on its way: hand these back at once.
          void releaseMany(rows.map((r) => ({ id: r.id, at: clock.now() })));
          return;
        }
        afterClaim(rows);
        if (pumpAgain) {
          pumpAgain = false;
          pump();
        }
      },
      (err: unknown) => {
        claiming = false;
        logger.error({ err }, 'claiming due recipients failed (tried again at the next wake)');
        if (!stopped) scheduleWake();
      },
    );
  }

  function afterClaim(rows: RecipientRow[]): void {
    leases.hold(rows.map((r) => r.id));
    for (const r of rows) {
      let d = destinations.get(r.domain);
      if (!d) {
        d = { domain: r.domain, pending: new Map(), active: 0 };
        destinations.set(r.domain, d);
      }
      // Recipients of one message to one domain share a transaction, unless each needs its own.
      const key = opts.transactionPerRecipient ? `${r.messageId}#${r.id}` : r.messageId;
      const group = d.pending.get(key);
      if (group) group.push(r);
      else d.pending.set(key, [r]);
    }
    // connections waiting idle for their destination's next message take it: as many as there
    // are messages (one woken with nothing to take closes its connection, and the next message
    // that finds the others busy opens a new one: a connection per message or two under a
    // one-at-a-time stream, measured in bench/RESULTS.md, offload13)
    for (const d of destinations.values()) if (d.pending.size > 0) wakeIdle(d, d.pending.size);
    inFlight += rows.length;
    // A full batch means more is due: claim it on the next turn, so a large backlog never
    // holds the event loop (and the SMTP sessions waiting on it) for a whole pass.
    if (rows.length === CLAIM_BATCH) poke();
    dispatch();
    // Another pass follows at once (a poke, or a claim asked for while this one travelled): it
    // reads the next due time after its own claim. Reading it here as well is a store read on
    // this thread per claim for nothing (under a steady intake nearly every claim is followed).
    // Nor after a claim that found rows: what it left is not due yet, and what becomes due
    // because of this node (its releases and deferrals) wakes the scheduler by itself
    // (dueAgain); the workers poke when they end, and that pass, finding nothing, reads it.
    // (A synchronous SQLite read on this thread per claim: ~30 µs warm, per message when
    // messages come one at a time.)
    if (!pumpAgain && !pokeQueued && rows.length === 0) scheduleWake();
  }

  function dispatch(): void {
    const now = clock.now();
    const gate = opts.gate;
    const held: { id: number; at: number; reason: string }[] = [];
    // A snapshot, and destinations that got a connection move to the back: when connections
    // are scarce (global or a shared MX-group cap), every destination gets its turn.
    for (const d of [...destinations.values()]) {
      if (stopped) break;
      if (d.learning) continue;
      if (d.pending.size > d.active && gate.learn) {
        const learning = gate.learn(d.domain);
        if (learning) {
          d.learning = true;
          learning
            .catch(() => undefined)
            .finally(() => {
              d.learning = false;
              poke();
            });
          continue;
        }
      }
      // Out of budget: hand the waiting messages back, each due when the budget lets it go,
      // instead of opening a connection only to be told to wait.
      if (d.active === 0 && d.pending.size > 0 && gate.readyAt) {
        const at = gate.readyAt(d.domain, now);
        if (at !== null) held.push(...holdBack(d, at, now, gate));
      }
      let started = false;
      // No more connections than messages the budget lets go now (1 per minute: one connection,
      // not ten that open only to be told to wait).
      const cap = gate.maxConnections(d.domain);
      let room = Infinity;
      if (gate.releaseTimes && d.pending.size > d.active && d.active < cap) {
        const times = gate.releaseTimes(d.domain, now, Math.min(d.pending.size, cap));
        room = times.filter((at) => at <= now).length;
      }
      // One more connection only while messages wait that the open ones have not taken — and,
      // for a destination that has one, not while intake-first holds message starts back: the
      // new connection's start would wait in the same line, after its connect and EHLO spent
      // the SMTP thread's time that the hold is there to give to intake (each message claimed
      // during a hold opened a connection of its own).
      // (read only when a connection is wanted: the stats getter makes an object each time)
      const holding = d.active > 0 && d.pending.size > d.active && (pace?.stats.waiting ?? 0) > 0;
      while (!holding && connections < opts.concurrency && d.pending.size > d.active && d.active < room && d.active < gate.maxConnections(d.domain)) {
        startWorker(d);
        started = true;
      }
      // Stopped by maxConnections alone: the gate may get one more (a cluster's shared slots).
      if (gate.wantConnection && !holding && connections < opts.concurrency && d.pending.size > d.active && d.active < room) gate.wantConnection(d.domain);
      if (started) {
        destinations.delete(d.domain);
        destinations.set(d.domain, d);
      }
      if (d.active === 0 && d.pending.size === 0) destinations.delete(d.domain);
    }
    if (held.length) {
      void releaseMany(held);
      inFlight -= held.length;
    }
    // Mail waits for a connection while others sit idle (the concurrency or a shared cap is
    // reached): the idle ones close now rather than at the end of their wait.
    let waiting = false;
    for (const d of destinations.values()) if (d.pending.size > d.active) waiting = true;
    if (waiting) for (const d of destinations.values()) if (d.pending.size === 0) wakeIdle(d);
  }

  /** Wakes up to `count` of the destination's idle connections (default all: they close). */
  function wakeIdle(d: Destination, count = Infinity): void {
    if (!d.idle?.size) return;
    let n = 0;
    for (const wake of [...d.idle]) {
      if (n++ >= count) break;
      wake();
    }
  }

  function startWorker(d: Destination): void {
    connections++;
    d.active++;
    opts.gate.connectionOpened?.(d.domain);
    const p = runDestinationWorker(d, {
      store: workerStore,
      spool: opts.spool,
      deliverer: opts.deliverer,
      outcome: workerOutcome,
      clock,
      logger,
      gate: opts.gate,
      signing: opts.signing,
      envelopeSender: opts.envelopeSender,
      expireLostBody: opts.expireLostBody,
      signal: abort.signal,
      idleMs: opts.idleConnectionMs ?? 0,
      finished: (n) => {
        inFlight -= n;
      },
      turns,
      pace,
    })
      .catch((err: unknown) => logger.error({ err, domain: d.domain }, 'delivery worker failed'))
      .finally(() => {
        connections--;
        d.active--;
        opts.gate.connectionClosed?.(d.domain);
        running.delete(p);
        if (!stopped) poke();
      });
    running.add(p);
  }

  function scheduleWake(): void {
    // At the in-flight bound nothing more can be claimed: due rows must not wake us at once
    // (that would spin); a finishing worker pokes the scheduler instead.
    if (inFlight >= maxInFlight) return wakeFor(null);
    store.recipients.nextDueAt().then(
      (next) => {
        if (!stopped) wakeFor(next);
      },
      (err: unknown) => {
        logger.error({ err }, 'reading the next due time failed (looking again at the idle wake)');
        if (!stopped) wakeFor(null);
      },
    );
  }

  function wakeFor(next: number | null): void {
    const now = clock.now();
    const at = Math.min(next ?? Infinity, now + idleWakeMs);
    if (at <= now) {
      // Already due (a claim answered after the clock moved on): look again now. A zero-delay
      // timer would do the same on the system clock, but a test's manual clock fires timers only
      // while it is advanced, and this wake may be set after that advance returned.
      poke();
      return;
    }
    if (timer && at >= wakeAt) return;
    armWake(at, now);
  }

  function armWake(at: number, now: number): void {
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
      leases.start();
      pump();
    },
    poke,
    accepted(count) {
      pace?.accepted(count);
      poke();
    },
    async stop(deadlineMs) {
      stopped = true;
      timer?.cancel();
      pace?.stop();
      const now = clock.now();
      const items: { id: number; at: number }[] = [];
      for (const d of destinations.values()) {
        for (const rows of d.pending.values()) for (const r of rows) items.push({ id: r.id, at: now });
        d.pending.clear();
        wakeIdle(d);
      }
      // one transaction for all of them (one fsync, not one per recipient); awaited below, after
      // the deadline timer is set (a caller driving the clock advances it right after stop()).
      const releasing = releaseMany(items);
      const released = items.length;
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
      await releasing;
      // Deliveries still running after the abort keep what they hold until their leases run out.
      leases.stop();
      logger.info({ released }, 'scheduler stopped');
    },
    get stats() {
      return { inFlight, connections, destinations: destinations.size, leases: leases.stats, intakeFirst: pace?.stats ?? null };
    },
  };
}
