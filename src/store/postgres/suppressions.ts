import { FerryError } from '../../core/errors.js';
import type { DropRow, NewSuppression, RawSuppression, SuppressionFilter, SuppressionRow } from '../suppressions-repo.js';
import { dropFromRaw, suppressionFromRaw, type RawDrop } from '../suppressions-repo.js';
import { changes, hasNul, likeContains, one, Params, rows, type Queryable } from './sql.js';
import { inTransaction, type PgPool } from './pool.js';
import { appendEvent } from './events.js';
import type { EventInput } from '../../core/store-types.js';
import { createLookupCache, SUPPRESSIONS_CHANNEL, type SuppressionCacheOptions } from './suppression-lookup.js';

const COLUMNS = 'address, domain, category, reason, source, scope, created_at, expires_at';
const ON_CONFLICT = `ON CONFLICT (address, scope) DO UPDATE SET
  category = excluded.category, reason = excluded.reason, source = excluded.source,
  hits = CASE WHEN s.expires_at IS NOT NULL AND s.expires_at <= excluded.created_at THEN 0 ELSE s.hits END,
  last_hit_at = CASE WHEN s.expires_at IS NOT NULL AND s.expires_at <= excluded.created_at THEN NULL ELSE s.last_hit_at END,
  created_at = CASE WHEN s.expires_at IS NOT NULL AND s.expires_at <= excluded.created_at THEN excluded.created_at ELSE s.created_at END,
  expires_at = excluded.expires_at`;

/** The parameters $1..$8 as arrays in COLUMNS order, one element per entry: many rows in one statement. */
const UNNEST_COLUMNS = 'unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])';
function columnArrays(list: readonly NewSuppression[]): unknown[] {
  return [
    list.map((r) => r.address),
    list.map((r) => r.domain),
    list.map((r) => r.category),
    list.map((r) => r.reason),
    list.map((r) => r.source),
    list.map((r) => r.scope ?? ''),
    list.map((r) => r.createdAt),
    list.map((r) => r.expiresAt),
  ];
}

function where(filter: SuppressionFilter, p: Params): string {
  const clauses: string[] = [];
  if (filter.domain !== undefined) clauses.push(`domain = ${p.add(filter.domain)}`);
  if (filter.category !== undefined) clauses.push(`category = ${p.add(filter.category)}`);
  if (filter.source !== undefined) clauses.push(`source = ${p.add(filter.source)}`);
  if (filter.since !== undefined) clauses.push(`created_at >= ${p.add(filter.since)}`);
  if (filter.before !== undefined) clauses.push(`created_at < ${p.add(filter.before)}`);
  if (filter.search !== undefined && filter.search !== '') {
    const pat = p.add(likeContains(filter.search));
    clauses.push(`(address ILIKE ${pat} ESCAPE '\\' OR reason ILIKE ${pat} ESCAPE '\\')`);
  }
  if (filter.scope !== undefined) clauses.push(`scope = ${p.add(filter.scope ?? '')}`);
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
}

const notify = (db: Queryable, key: string) => db.query('SELECT pg_notify($1, $2)', [SUPPRESSIONS_CHANNEL, key]);

/** Adds or updates the (address, scope) entry and announces it to every node, inside the caller's transaction. */
export async function upsertSuppression(c: Queryable, entry: NewSuppression): Promise<{ row: SuppressionRow; created: boolean }> {
  // xmax = 0: the row was inserted by this statement, not updated.
  const r = await one<RawSuppression & { inserted: boolean }>(
    c,
    `INSERT INTO suppressions AS s (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ${ON_CONFLICT} RETURNING *, (xmax = 0) AS inserted`,
    [entry.address, entry.domain, entry.category, entry.reason, entry.source, entry.scope ?? '', entry.createdAt, entry.expiresAt],
  );
  await notify(c, entry.address);
  const { inserted, ...raw } = r!;
  return { row: suppressionFromRaw(raw as RawSuppression), created: inserted };
}

/** The `suppressions` group: src/store/suppressions-repo.ts's methods, asynchronous, shared by the cluster. */
export function createPgSuppressions(pool: PgPool, cacheOpts: SuppressionCacheOptions) {
  const cache = createLookupCache(pool, cacheOpts);
  const imports = new Map<string, Importer>();
  let importSeq = 0;
  const importOf = (handle: string): Importer => {
    const run = imports.get(handle);
    if (!run) throw new FerryError('FERRY_ERR_STORE', `no suppression import ${handle} in progress`);
    return run;
  };

  return {
    /** Starts listening for changes; until then (and whenever the connection is down) lookups go to the database. */
    start: () => cache.start(),
    close: () => cache.close(),
    cache,
    lookup(address: string, domain: string, user: string | null, now: number): Promise<SuppressionRow | undefined> {
      return cache.lookup(address, domain, user, now);
    },
    async get(address: string, scope: string | null): Promise<SuppressionRow | undefined> {
      if (hasNul(address, scope)) return undefined;
      const r = await one<RawSuppression>(pool, 'SELECT * FROM suppressions WHERE address = $1 AND scope = $2', [address, scope ?? '']);
      return r && suppressionFromRaw(r);
    },
    async forAddress(address: string): Promise<SuppressionRow[]> {
      if (hasNul(address)) return [];
      return (await rows<RawSuppression>(pool, "SELECT * FROM suppressions WHERE address = $1 ORDER BY scope <> '', scope", [address])).map(suppressionFromRaw);
    },
    async upsert(entry: NewSuppression): Promise<{ row: SuppressionRow; created: boolean }> {
      return inTransaction(pool, (c) => upsertSuppression(c, entry));
    },
    /** The upsert and, when the entry is new, its event, in one transaction (one-click unsubscribe). */
    async upsertWithEvent(entry: NewSuppression, event: EventInput): Promise<{ row: SuppressionRow; created: boolean }> {
      return inTransaction(pool, async (c) => {
        const r = await upsertSuppression(c, entry);
        if (r.created) await appendEvent(c, event);
        return r;
      });
    },
    async remove(address: string, scope: string | null): Promise<boolean> {
      return inTransaction(pool, async (c) => {
        const n = await changes(c, 'DELETE FROM suppressions WHERE address = $1 AND scope = $2', [address, scope ?? '']);
        if (n) await notify(c, address);
        return n === 1;
      });
    },
    async hit(id: number, at: number): Promise<void> {
      await pool.query('UPDATE suppressions SET hits = hits + 1, last_hit_at = greatest(coalesce(last_hit_at, 0), $2) WHERE id = $1', [id, at]);
    },
    async hitMany(hits: readonly (readonly [id: number, count: number, at: number])[]): Promise<void> {
      if (!hits.length) return;
      await pool.query(
        `UPDATE suppressions s SET hits = s.hits + x.n, last_hit_at = greatest(coalesce(s.last_hit_at, 0), x.at)
         FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS x(id, n, at) WHERE s.id = x.id`,
        [hits.map((h) => h[0]), hits.map((h) => h[1]), hits.map((h) => h[2])],
      );
    },
    async list(filter: SuppressionFilter, limit: number): Promise<SuppressionRow[]> {
      const p = new Params();
      const w = where(filter, p);
      return (await rows<RawSuppression>(pool, `SELECT * FROM suppressions ${w} ORDER BY created_at DESC, id DESC LIMIT ${p.add(limit)}`, p.values)).map(
        suppressionFromRaw,
      );
    },
    async count(filter: SuppressionFilter = {}): Promise<number> {
      const p = new Params();
      return (await one<{ n: number }>(pool, `SELECT count(*)::int AS n FROM suppressions ${where(filter, p)}`, p.values))!.n;
    },
    async clear(filter: SuppressionFilter): Promise<number> {
      return inTransaction(pool, async (c) => {
        const p = new Params();
        const n = await changes(c, `DELETE FROM suppressions ${where(filter, p)}`, p.values);
        if (n) await notify(c, '*');
        return n;
      });
    },
    /** Every entry, oldest first, one page at a time (the iterator of the SQLite repo, paged). */
    async page(afterId: number, limit: number): Promise<SuppressionRow[]> {
      return (await rows<RawSuppression>(pool, 'SELECT * FROM suppressions WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit])).map(suppressionFromRaw);
    },
    /**
     * A staged import, all or nothing: rows are staged in a session-private temp table on one
     * dedicated connection (held from importBegin to importCommit/importAbort), then applied in
     * ONE transaction and announced to every node, so a failed or abandoned import leaves the
     * list untouched.
     */
    async importBegin(): Promise<string> {
      const handle = `import-${++importSeq}`;
      imports.set(handle, await createImporter(pool));
      return handle;
    },
    async importStage(handle: string, list: NewSuppression[]): Promise<void> {
      await importOf(handle).stage(list);
    },
    async importCommit(handle: string): Promise<number> {
      const run = importOf(handle);
      imports.delete(handle);
      return run.commit();
    },
    async importAbort(handle: string): Promise<void> {
      const run = imports.get(handle);
      imports.delete(handle);
      await run?.abort();
    },
    async drops(address: string, limit: number): Promise<DropRow[]> {
      const sql = `SELECT e.at, e.message_id, e.recipient, e.detail, m.sender, m.username
        FROM events e LEFT JOIN messages m ON m.id = e.message_id
        WHERE e.type = 'dropped' AND ${address.startsWith('@') ? "lower(e.recipient) LIKE $1 ESCAPE '\\'" : 'lower(e.recipient) = $1'}
        ORDER BY e.id DESC LIMIT $2`;
      const key = address.startsWith('@') ? `%${address.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}` : address.toLowerCase();
      return (await rows<RawDrop>(pool, sql, [key, limit])).map(dropFromRaw);
    },
  };
}

/**
 * Stages rows in a session-private temp table on one dedicated connection, then applies them
 * all in ONE transaction on commit() (announced to every node), so a failed or abandoned
 * import leaves the list untouched.
 */
async function createImporter(pool: PgPool) {
  const c = await pool.connect();
  await c.query(`CREATE TEMP TABLE IF NOT EXISTS suppressions_import (ord BIGSERIAL, ${COLUMNS.split(', ').map((col) => `${col} ${col.endsWith('_at') ? 'BIGINT' : 'TEXT'}`).join(', ')})`);
  await c.query('TRUNCATE suppressions_import');
  let staged = 0;
  let released = false;
  const done = async () => {
    if (released) return;
    released = true;
    await c.query('DROP TABLE IF EXISTS suppressions_import').catch(() => undefined);
    c.release();
  };
  return {
    async stage(list: NewSuppression[]): Promise<void> {
      if (!list.length) return;
      await c.query(
        `INSERT INTO suppressions_import (${COLUMNS}) SELECT * FROM ${UNNEST_COLUMNS}`,
        columnArrays(list),
      );
      staged += list.length;
    },
    get staged() {
      return staged;
    },
    async commit(): Promise<number> {
      try {
        await c.query('BEGIN');
        // The last line for a key wins (as in the SQLite engine): one row per key, the latest staged.
        await c.query(
          `INSERT INTO suppressions AS s (${COLUMNS})
           SELECT DISTINCT ON (address, scope) ${COLUMNS} FROM suppressions_import ORDER BY address, scope, ord DESC
           ${ON_CONFLICT}`,
        );
        await notify(c, '*');
        await c.query('COMMIT');
        return staged;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        await done();
      }
    },
    abort: done,
  };
}

type Importer = Awaited<ReturnType<typeof createImporter>>;

export type PgSuppressions = ReturnType<typeof createPgSuppressions>;

/**
 * Removes the entry with this id and announces it, inside the caller's transaction; the removed
 * entry, or undefined when there is none.
 */
export async function removeSuppressionById(c: Queryable, id: number): Promise<SuppressionRow | undefined> {
  const r = await one<RawSuppression>(c, 'DELETE FROM suppressions WHERE id = $1 RETURNING *', [id]);
  if (!r) return undefined;
  await notify(c, r.address);
  return suppressionFromRaw(r);
}

/** Deletes every entry matching the filter and announces it, inside the caller's transaction; how many. */
export async function clearSuppressionsOn(c: Queryable, filter: SuppressionFilter): Promise<number> {
  const p = new Params();
  const n = await changes(c, `DELETE FROM suppressions ${where(filter, p)}`, p.values);
  if (n) await notify(c, '*');
  return n;
}

/**
 * Adds or updates many entries in one statement, inside the caller's transaction: the last row
 * for a key wins (as on SQLite, which applies them in order); announced to every node. Returns
 * how many rows were given.
 */
export async function upsertSuppressionsOn(c: Queryable, list: readonly NewSuppression[]): Promise<number> {
  if (list.length === 0) return 0;
  await c.query(
    `INSERT INTO suppressions AS s (${COLUMNS})
     SELECT DISTINCT ON (address, scope) ${COLUMNS}
     FROM ${UNNEST_COLUMNS}
       WITH ORDINALITY AS x(${COLUMNS}, ord)
     ORDER BY address, scope, ord DESC
     ${ON_CONFLICT}`,
    columnArrays(list),
  );
  await notify(c, list.length === 1 ? list[0]!.address : '*');
  return list.length;
}
