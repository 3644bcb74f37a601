import { STORE_GROUPS, type Store } from '../core/store.js';

/**
 * A Store whose engine is opened later (the relay opens its writer thread in start(), after the
 * parts that use the store were built): each call goes to `get()` at call time, which throws
 * until the engine is open.
 */
export function deferredStore(get: () => Store): Store {
  const groups: Record<string, unknown> = {};
  for (const group of STORE_GROUPS) {
    groups[group] = new Proxy(
      {},
      {
        get: (_target, method) => (...args: unknown[]) => {
          const g = (get() as unknown as Record<string, Record<string | symbol, (...a: unknown[]) => Promise<unknown>>>)[group]!;
          return g[method]!(...args);
        },
      },
    );
  }
  return {
    ...(groups as unknown as Omit<Store, 'engine' | 'close' | 'suppressionLookup'>),
    get engine() {
      return get().engine;
    },
    suppressionLookup: {
      lookup: (address, domain, user, now) => get().suppressionLookup.lookup(address, domain, user, now),
      get: (address, scope) => get().suppressionLookup.get(address, scope),
    },
    close: () => get().close(),
  };
}
