import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { ParsedAddress } from '../core/policy.js';
import type { Db } from '../store/db.js';
import { createSuppressionsRepo, type SuppressionRow, type SuppressionSource, type SuppressionsRepo } from '../store/suppressions-repo.js';
import { isSuppressionCategory, keyOf, suppressionKey, type SuppressionKey } from './normalize.js';

import type { SuppressionEntry, SuppressOptions } from './suppression-list.js';

export interface DbSuppressionList {
  /**
   * Puts an address (or `@domain`) on the list, or refreshes its entry. Throws FERRY_ERR_USAGE for
   * something that is not an address or an unknown category.
   */
  suppress(address: string, category: string, reason: string, source: SuppressionSource, opts?: SuppressOptions): { entry: SuppressionEntry; created: boolean };
  /** Removes the global entry (or the user's, when given); false when there was none. */
  unsuppress(address: string, user?: string | null): boolean;
  /**
   * The entry that stops mail to `address` for `user` (its own address entry, global or scoped to
   * the user, or its domain's entry), ignoring expired ones; records a hit. null: send.
   */
  check(address: string | ParsedAddress, user: string | null): SuppressionEntry | null;
  /** Writes the hits recorded by check() that are not in the database yet. */
  flushHits(): void;
  /** Like check, without recording a hit. */
  find(address: string | ParsedAddress, user: string | null): SuppressionEntry | null;
  readonly repo: SuppressionsRepo;
}

export interface DbSuppressionListDeps {
  db: Db;
  clock: Clock;
  /**
   * Schedules the write of recorded hits. Default: setImmediate, so every RCPT handled in one
   * turn of the event loop shares one transaction (one fsync) instead of paying one each.
   */
  defer?: (fn: () => void) => void;
}

/**
 * TRANSITIONAL: the synchronous suppression list on a `Db`, kept only for the admin CLI and the
 * web console until they move to the Store (their helper's part of issue 13); then this file goes.
 * The relay's list is suppression-list.ts (Store groups).
 */
export function createDbSuppressionList(deps: DbSuppressionListDeps): DbSuppressionList {
  const repo = createSuppressionsRepo(deps.db);
  const defer = deps.defer ?? ((fn: () => void) => void setImmediate(fn));
  const pendingHits = new Map<number, [id: number, count: number, at: number]>();
  let flushScheduled = false;

  function flushHits(): void {
    flushScheduled = false;
    if (pendingHits.size === 0) return;
    const hits = [...pendingHits.values()];
    pendingHits.clear();
    // Hit counts are statistics: losing one turn's worth to a closed database is not an error.
    if (deps.db.open) repo.hitMany(hits);
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
        try {
          flushHits();
        } catch {
          // the database is closing or busy beyond busy_timeout; the counts are advisory
        }
      });
    }
  }

  function keyFor(address: string | ParsedAddress): SuppressionKey | null {
    return typeof address === 'string' ? suppressionKey(address) : keyOf(address);
  }

  function find(address: string | ParsedAddress, user: string | null): SuppressionEntry | null {
    const key = keyFor(address);
    if (!key) return null;
    if (key.isDomain) {
      const row = repo.get(key.address, null) ?? (user ? repo.get(key.address, user) : undefined);
      return row && (row.expiresAt === null || row.expiresAt > deps.clock.now()) ? row : null;
    }
    return repo.lookup(key.address, key.domain, user, deps.clock.now()) ?? null;
  }

  return {
    repo,
    suppress(address, category, reason, source, opts = {}) {
      const key = suppressionKey(address);
      if (!key) throw new FerryError('FERRY_ERR_USAGE', `not an email address or @domain: ${JSON.stringify(address)}`);
      if (!isSuppressionCategory(category)) throw new FerryError('FERRY_ERR_USAGE', `unknown suppression category ${JSON.stringify(category)}`);
      const { row, created } = repo.upsert({
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
    unsuppress(address, user = null) {
      const key = suppressionKey(address);
      return key ? repo.remove(key.address, user) : false;
    },
    check(address, user) {
      const entry = find(address, user);
      if (!entry) return null;
      const at = deps.clock.now();
      recordHit(entry.id, at);
      return { ...entry, hits: entry.hits + 1, lastHitAt: at };
    },
    flushHits,
    find,
  };
}
