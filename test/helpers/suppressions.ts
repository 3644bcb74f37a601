import type { Db } from '../../src/store/db.js';
import type { SuppressionRow, SuppressionSource } from '../../src/core/store-types.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { suppressionKey } from '../../src/suppress/normalize.js';

/**
 * Tests only: seeds and reads the suppression list of a SQLite file synchronously, on the
 * connection given (a relay's `ferry.db`, a test's own): what a test sets up before the relay
 * runs, or checks after it wrote through the Store. The relay, the console and the CLI write
 * through the Store; nothing in src/ uses this.
 */
export function testSuppressions(db: Db, now: () => number = Date.now) {
  const repo = createSuppressionsRepo(db);
  const keyOf = (address: string) => {
    const key = suppressionKey(address);
    if (!key) throw new Error(`not an email address or @domain: ${address}`);
    return key;
  };
  return {
    repo,
    /** Adds or refreshes an entry (global, or the user's). */
    suppress(address: string, category: string, reason: string, source: SuppressionSource, opts: { user?: string | null; expiresAt?: number | null } = {}): { entry: SuppressionRow; created: boolean } {
      const key = keyOf(address);
      const { row, created } = repo.upsert({ address: key.address, domain: key.domain, category, reason, source, scope: opts.user ?? null, createdAt: now(), expiresAt: opts.expiresAt ?? null });
      return { entry: row, created };
    },
    /** The entry that stops mail to `address` for `user` (its own, or its domain's), ignoring expired ones; null: none. */
    find(address: string, user: string | null): SuppressionRow | null {
      const key = suppressionKey(address);
      if (!key) return null;
      if (key.isDomain) {
        const row = repo.get(key.address, null) ?? (user ? repo.get(key.address, user) : undefined);
        return row && (row.expiresAt === null || row.expiresAt > now()) ? row : null;
      }
      return repo.lookup(key.address, key.domain, user, now()) ?? null;
    },
  };
}
