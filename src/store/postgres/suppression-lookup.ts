import pg from 'pg';
import type { SuppressionLookup } from '../../core/store.js';
import type { RawSuppression, SuppressionRow } from '../suppressions-repo.js';
import { suppressionFromRaw } from '../suppressions-repo.js';
import { hasNul, one, type Queryable } from './sql.js';
import type { PgPool } from './pool.js';

/**
 * The RCPT-time suppression read of the PostgreSQL engine: this node's cache of lookups, kept
 * true by the change announcements (LISTEN/NOTIFY) that every write to the list makes
 * (suppressions.ts), and the read the Store hands out as its SuppressionLookup.
 */

/** The channel on which every change to the suppression list is announced (payload: the address key, or '*'). */
export const SUPPRESSIONS_CHANNEL = 'ferry_suppressions';

async function lookupDb(db: Queryable, address: string, domain: string, user: string | null, now: number): Promise<SuppressionRow | undefined> {
  const domainKey = `@${domain}`;
  // A key holding NUL matches no entry (none can hold one); the others still may.
  const orNone = (v: string) => (hasNul(v) ? null : v);
  const r = await one<RawSuppression>(
    db,
    `SELECT * FROM suppressions s
     WHERE address IN ($1, $2) AND scope IN ('', $3) AND (expires_at IS NULL OR expires_at > $4)
     ORDER BY address = $2, scope <> '' LIMIT 1`,
    [orNone(address), orNone(domainKey), orNone(user ?? ''), now],
  );
  return r && suppressionFromRaw(r);
}

export interface SuppressionCacheOptions {
  /** A connection string for the LISTEN connection (a pooled client cannot hold LISTEN). */
  url: string;
  /** Names the LISTEN session in pg_stat_activity. */
  applicationName?: string;
  /** Entries older than this are looked up again even without a notification (a safety net). */
  maxAgeMs?: number;
  /** Most cached lookups; the oldest are forgotten first. */
  maxEntries?: number;
  now: () => number;
  onError?: (err: Error) => void;
}

/**
 * The RCPT-time lookup, cached per (address, domain, user) in this node's memory, with misses
 * cached too (almost every lookup is a miss). Every change to the list, on any node, is announced
 * by NOTIFY in the changing transaction; this node's LISTEN connection drops the cached answers
 * for that key the moment the change commits. While the LISTEN connection is down, the cache is
 * bypassed (every lookup asks the database) and it is emptied when the connection comes back,
 * so a missed notification can never keep a stale answer.
 */
export function createLookupCache(pool: PgPool, opts: SuppressionCacheOptions) {
  const maxAgeMs = opts.maxAgeMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 200_000;
  type Entry = { row: SuppressionRow | undefined; at: number; keys: [string, string] };
  const cache = new Map<string, Entry>();
  /** address key (or @domain) → cache keys that depend on it. */
  const byKey = new Map<string, Set<string>>();
  let generation = 0;
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  function forget(key: string): void {
    const set = byKey.get(key);
    if (!set) return;
    for (const k of set) cache.delete(k);
    byKey.delete(key);
  }
  function clear(): void {
    cache.clear();
    byKey.clear();
  }
  function invalidate(key: string): void {
    generation++;
    if (key === '*') clear();
    else forget(key);
  }

  async function listen(): Promise<void> {
    if (closed) return;
    const c = new pg.Client({ connectionString: opts.url, application_name: opts.applicationName ?? 'ferry listen' });
    c.on('error', (err) => {
      opts.onError?.(err);
      down();
    });
    c.on('end', down);
    c.on('notification', (n) => {
      if (n.channel === SUPPRESSIONS_CHANNEL) invalidate(n.payload ?? '*');
    });
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${SUPPRESSIONS_CHANNEL}`);
      // Anything cached before LISTEN took effect may have missed a change.
      invalidate('*');
      listening = true;
    } catch (err) {
      opts.onError?.(err as Error);
      down();
    }
  }
  function down(): void {
    if (!listening && retry) return;
    listening = false;
    invalidate('*');
    const c = client;
    client = undefined;
    c?.end().catch(() => undefined);
    if (!closed && !retry) {
      retry = setTimeout(() => {
        retry = undefined;
        void listen();
      }, 500);
      retry.unref();
    }
  }

  return {
    start: listen,
    get listening() {
      return listening;
    },
    get size() {
      return cache.size;
    },
    invalidate,
    /**
     * The cached answer when there is a fresh one, without a promise ({row: undefined}: a cached
     * miss); null when only lookup() can answer (not cached, stale, or not listening).
     */
    peek(address: string, domain: string, user: string | null, now: number): { row: SuppressionRow | undefined } | null {
      if (!listening) return null;
      const hit = cache.get(`${address}\n${domain}\n${user ?? ''}`);
      return hit && opts.now() - hit.at < maxAgeMs && (!hit.row || hit.row.expiresAt === null || hit.row.expiresAt > now) ? hit : null;
    },
    async lookup(address: string, domain: string, user: string | null, now: number): Promise<SuppressionRow | undefined> {
      if (!listening) return lookupDb(pool, address, domain, user, now);
      const key = `${address}\n${domain}\n${user ?? ''}`;
      const hit = cache.get(key);
      if (hit && opts.now() - hit.at < maxAgeMs && (!hit.row || hit.row.expiresAt === null || hit.row.expiresAt > now)) return hit.row;
      const gen = generation;
      const row = await lookupDb(pool, address, domain, user, now);
      // A change announced while we asked may not be in the answer: do not keep it.
      if (gen === generation && listening) {
        if (cache.size >= maxEntries) clear();
        const keys: [string, string] = [address, `@${domain}`];
        cache.set(key, { row, at: opts.now(), keys });
        for (const k of keys) {
          let set = byKey.get(k);
          if (!set) byKey.set(k, (set = new Set()));
          set.add(key);
        }
      }
      return row;
    },
    async close(): Promise<void> {
      closed = true;
      if (retry) clearTimeout(retry);
      listening = false;
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

export type SuppressionLookupCache = ReturnType<typeof createLookupCache>;

/**
 * The RCPT-time read (core/store.ts SuppressionLookup) of this engine: a fresh cached answer at
 * once, otherwise the cache's lookup (one round trip, then cached). `get` (whole-domain keys
 * typed by an admin, never the RCPT path) always asks the database.
 */
export function pgSuppressionLookup(s: {
  cache: SuppressionLookupCache;
  get(address: string, scope: string | null): Promise<SuppressionRow | undefined>;
}): SuppressionLookup {
  return {
    lookup(address, domain, user, now) {
      const cached = s.cache.peek(address, domain, user, now);
      return cached ? cached.row : s.cache.lookup(address, domain, user, now);
    },
    get: (address, scope) => s.get(address, scope),
  };
}
