/**
 * Spreads synchronous work that arrives in bursts over turns of the event loop, so the SMTP
 * sessions sharing the loop are not held behind it. A claim or a batch of sign-thread answers
 * can start many messages at once, and each one's synchronous start (the store read of its row
 * and body: about 1 ms for a 100 KB inline body) ran in the same turn: bench/loop-stalls.mjs
 * showed 25-30 ms of such reads inside single event-loop stalls (bench/RESULTS.md, loop13).
 *
 * `run(fn)` waits for its turn, runs fn's synchronous part (and what it set off to run in the
 * next microtask), and counts the time it took. The
 * work of one turn stops once it has taken budgetMs; the rest goes on in the next turn (after
 * timers and I/O have had theirs). One unit always runs per turn, however long it takes, so
 * nothing starves. Units run in the order they asked.
 */
export interface TurnBudget {
  run<T>(fn: () => T): Promise<Awaited<T>>;
  readonly stats: { units: number; turns: number; waiting: number };
}

export interface TurnBudgetOptions {
  /** Synchronous work per turn of the event loop before the rest waits for the next (ms). */
  budgetMs: number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
  /** Runs fn in a later turn of the event loop, after I/O (default setImmediate). */
  defer?: (fn: () => void) => void;
}

/** The delivery side's budget per turn: a few messages' starts, well under the 10 ms the event-loop delay target allows. */
export const DELIVERY_TURN_BUDGET_MS = 2;

export function createTurnBudget(options: TurnBudgetOptions): TurnBudget {
  const now = options.now ?? (() => performance.now());
  const defer = options.defer ?? ((fn: () => void) => void setImmediate(fn));
  const queue: (() => void)[] = [];
  // A unit holds the turn from its release until its synchronous part has run.
  let holding = false;
  let turnScheduled = false;
  let spent = 0;
  let units = 0;
  let turns = 0;

  function scheduleTurn(): void {
    if (turnScheduled) return;
    turnScheduled = true;
    defer(() => {
      turnScheduled = false;
      turns++;
      spent = 0;
      releaseNext();
    });
  }

  function releaseNext(): void {
    const next = queue.shift();
    if (!next) {
      holding = false;
      return;
    }
    holding = true;
    next();
  }

  function finished(ms: number): void {
    spent += ms;
    units++;
    if (queue.length === 0) holding = false;
    else if (spent >= options.budgetMs) {
      holding = false;
      scheduleTurn();
    } else releaseNext();
  }

  return {
    run<T>(fn: () => T): Promise<Awaited<T>> {
      const turn = new Promise<void>((resolve) => queue.push(resolve));
      if (!holding) scheduleTurn();
      return turn.then(() => {
        const t0 = now();
        try {
          return fn() as Awaited<T>;
        } finally {
          // Counted one microtask later: what fn set off to run next (the first step after its
          // own await, e.g. a body copied for another thread) runs before, and is counted too.
          queueMicrotask(() => finished(now() - t0));
        }
      });
    },
    get stats() {
      return { units, turns, waiting: queue.length };
    },
  };
}
