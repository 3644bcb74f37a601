import type { Db } from '../../src/store/db.js';

/**
 * The database behind a proxy that counts transactions run (each is one commit, one fsync):
 * for tests that assert how many commits a batch of work costs.
 */
export function countingDb(db: Db): { db: Db; transactions: () => number } {
  let transactions = 0;
  const counting = new Proxy(db, {
    get(target, prop) {
      if (prop === 'transaction') {
        return (fn: (...a: unknown[]) => unknown) => {
          const tx = target.transaction(fn);
          return (...a: unknown[]) => {
            // A transaction inside another is a savepoint, not a commit.
            if (!target.inTransaction) transactions++;
            return tx(...a);
          };
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Db;
  return { db: counting, transactions: () => transactions };
}
