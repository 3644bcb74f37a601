import type { Db } from './db.js';

/**
 * `fn` as one transaction when it is called alone (the CLI, tests), and as a plain part of the
 * caller's transaction when one is open: no SAVEPOINT of its own. The caller makes it
 * all-or-nothing: the writer thread runs each operation of a batch inside its own SAVEPOINT (or
 * alone in its transaction) and rolls it back when it throws, and a db.transaction around it rolls
 * back on the throw as well. For the operations the relay runs for every message: a nested
 * db.transaction costs a SAVEPOINT and a RELEASE (~7 µs, a loop at load 15), and the intake ran
 * three of them per message (bench/RESULTS.md, loop13 session 10). Never for a caller that
 * catches a throw inside its transaction and goes on (it would keep the half that was written).
 */
export function atomic<A extends unknown[], R>(db: Db, fn: (...args: A) => R): (...args: A) => R {
  const tx = db.transaction(fn);
  return (...args: A): R => (db.inTransaction ? fn(...args) : tx(...args));
}
