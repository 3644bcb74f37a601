import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ParsedAddress } from '../core/policy.js';
import type { SuppressionLookup, SuppressionsStore } from '../core/store.js';
import type { SuppressionRow, SuppressionSource } from '../core/store-types.js';
import { isSuppressionCategory, keyOf, suppressionKey, type SuppressionKey } from './normalize.js';

export type SuppressionEntry = SuppressionRow;

export interface SuppressOptions {
  /** The entry stops applying at this time (ms since the epoch); absent: never. */
  expiresAt?: number | null;
  /** Scope the entry to one SMTP user (complaints, manual entries); absent: global. */
  user?: string | null;
}

/** A value now, or a promise of it when the store cannot answer at once (a PostgreSQL cache miss). */
export type MaybePromise<T> = T | Promise<T>;

export interface SuppressionList {
  /**
   * Puts an address (or `@domain`) on the list, or refreshes its entry. Rejects with
   * FERRY_ERR_USAGE for something that is not an address or an unknown category.
   */
  suppress(address: string, category: string, reason: string, source: SuppressionSource, opts?: SuppressOptions): Promise<{ entry: SuppressionEntry; created: boolean }>;
  /** Removes the global entry (or the user's, when given); false when there was none. */
  unsuppress(address: string, user?: string | null): Promise<boolean>;
  /**
   * The entry that stops mail to `address` for `user` (its own address entry, global or scoped to
   * the user, or its domain's entry), ignoring expired ones; records a hit. null: send. The RCPT
   * hot path: synchronous whenever the store's SuppressionLookup answers at once.
   */
  check(address: string | ParsedAddress, user: string | null): MaybePromise<SuppressionEntry | null>;
  /** Writes the hits recorded by check() that are not in the store yet. */
  flushHits(): Promise<void>;
  /** Like check, without recording a hit. */
  find(address: string | ParsedAddress, user: string | null): Promise<SuppressionEntry | null>;
}

export interface SuppressionListDeps {
  /** Writes (entries, hit counts). */
  store: Pick<SuppressionsStore, 'upsert' | 'remove' | 'hitMany'>;
  /** The RCPT-time read (Store.suppressionLookup): synchronous where the engine can answer at once. */
  lookup: SuppressionLookup;
  clock: Clock;
  /** Told when hit counts could not be written (they are statistics; mail is unaffected). */
  logger?: Pick<Logger, 'warn'>;
  /**
   * Schedules the write of recorded hits. Default: setImmediate, so every RCPT handled in one
   * turn of the event loop shares one write instead of paying one each.
   */
  defer?: (fn: () => void) => void;
}

const isPromise = <T>(v: MaybePromise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
const then = <T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> => (isPromise(v) ? v.then(f) : f(v));

/**
 * The suppression list as the relay sees it: RCPT-time policy and what a bounce or an admin
 * adds. Reads go to the store on every call (no cache of its own): the store's lookup answers a
 * change from the CLI or another node at the next RCPT.
 */
export function createSuppressionList(deps: SuppressionListDeps): SuppressionList {
  const { lookup, store } = deps;
  const defer = deps.defer ?? ((fn: () => void) => void setImmediate(fn));
  const pendingHits = new Map<number, [id: number, count: number, at: number]>();
  let flushScheduled = false;

  async function flushHits(): Promise<void> {
    flushScheduled = false;
    if (pendingHits.size === 0) return;
    const hits = [...pendingHits.values()];
    pendingHits.clear();
    await store.hitMany(hits);
  }

  function recordHit(id: number, at: number): void {
    const p = pendingHits.get(id);
    if (p) {
      p[1]++;
      p[2] = at;
    } else pendingHits.set(id, [id, 1, at]);
    if (!flushScheduled) {
      flushScheduled = true;
      defer(() => {
        flushHits().catch((err: unknown) => {
          // Hit counts are statistics: a store closing or failing loses them, never mail.
          deps.logger?.warn({ err, entries: pendingHits.size }, 'suppression hit counts could not be stored');
        });
      });
    }
  }

  function keyFor(address: string | ParsedAddress): SuppressionKey | null {
    return typeof address === 'string' ? suppressionKey(address) : keyOf(address);
  }

  function findKey(key: SuppressionKey, user: string | null): MaybePromise<SuppressionEntry | null> {
    const now = deps.clock.now();
    if (key.isDomain) {
      const live = (row: SuppressionRow | undefined) => (row && (row.expiresAt === null || row.expiresAt > now) ? row : null);
      return then(lookup.get(key.address, null), (global) => (global || !user ? live(global) : then(lookup.get(key.address, user), live)));
    }
    const row = lookup.lookup(key.address, key.domain, user, now);
    return isPromise(row) ? row.then((r) => r ?? null) : row ?? null;
  }

  function hit(entry: SuppressionEntry | null): SuppressionEntry | null {
    if (!entry) return null;
    const at = deps.clock.now();
    recordHit(entry.id, at);
    return { ...entry, hits: entry.hits + 1, lastHitAt: at };
  }

  return {
    async suppress(address, category, reason, source, opts = {}) {
      const key = suppressionKey(address);
      if (!key) throw new FerryError('FERRY_ERR_USAGE', `not an email address or @domain: ${JSON.stringify(address)}`);
      if (!isSuppressionCategory(category)) throw new FerryError('FERRY_ERR_USAGE', `unknown suppression category ${JSON.stringify(category)}`);
      const { row, created } = await store.upsert({
        address: key.address,
        domain: key.domain,
        category,
        reason,
        source,
        scope: opts.user ?? null,
        createdAt: deps.clock.now(),
        expiresAt: opts.expiresAt ?? null,
      });
      return { entry: row, created };
    },
    async unsuppress(address, user = null) {
      const key = suppressionKey(address);
      return key ? store.remove(key.address, user) : false;
    },
    check(address, user) {
      const key = keyFor(address);
      if (!key) return null;
      return then(findKey(key, user), hit);
    },
    flushHits,
    async find(address, user) {
      const key = keyFor(address);
      return key ? findKey(key, user) : null;
    },
  };
}
