import type { Db } from './db.js';
import type { SuppressionSource, SuppressionRow, NewSuppression, SuppressionFilter, DropRow } from '../core/store-types.js';
export type { SuppressionSource, SuppressionRow, NewSuppression, SuppressionFilter, DropRow } from '../core/store-types.js';
export { SUPPRESSION_SOURCES } from '../core/store-types.js';

/** A suppressions row as SQLite returns it (the console's queries read the same table). */
export interface RawSuppression {
  id: number;
  address: string;
  domain: string;
  category: string;
  reason: string;
  source: SuppressionSource;
  scope: string;
  created_at: number;
  expires_at: number | null;
  hits: number;
  last_hit_at: number | null;
}

export function suppressionFromRaw(r: RawSuppression): SuppressionRow {
  return {
    id: r.id,
    address: r.address,
    domain: r.domain,
    category: r.category,
    reason: r.reason,
    source: r.source,
    scope: r.scope === '' ? null : r.scope,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    hits: r.hits,
    lastHitAt: r.last_hit_at,
  };
}

const COLUMNS = 'address, domain, category, reason, source, scope, created_at, expires_at';
/** On a second entry for the same (address, scope): the newest facts win; an expired entry starts afresh. */
const ON_CONFLICT = `ON CONFLICT (address, scope) DO UPDATE SET
  category = excluded.category, reason = excluded.reason, source = excluded.source,
  hits = CASE WHEN expires_at IS NOT NULL AND expires_at <= excluded.created_at THEN 0 ELSE hits END,
  last_hit_at = CASE WHEN expires_at IS NOT NULL AND expires_at <= excluded.created_at THEN NULL ELSE last_hit_at END,
  created_at = CASE WHEN expires_at IS NOT NULL AND expires_at <= excluded.created_at THEN excluded.created_at ELSE created_at END,
  expires_at = excluded.expires_at`;

function likeEscape(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function where(filter: SuppressionFilter): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.domain !== undefined) {
    clauses.push('domain = ?');
    params.push(filter.domain);
  }
  if (filter.category !== undefined) {
    clauses.push('category = ?');
    params.push(filter.category);
  }
  if (filter.source !== undefined) {
    clauses.push('source = ?');
    params.push(filter.source);
  }
  if (filter.since !== undefined) {
    clauses.push('created_at >= ?');
    params.push(filter.since);
  }
  if (filter.before !== undefined) {
    clauses.push('created_at < ?');
    params.push(filter.before);
  }
  if (filter.search !== undefined && filter.search !== '') {
    clauses.push("(address LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\')");
    params.push(likeEscape(filter.search), likeEscape(filter.search));
  }
  if (filter.scope !== undefined) {
    clauses.push('scope = ?');
    params.push(filter.scope ?? '');
  }
  return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * The only code that knows the SQL of the `suppressions` table. It also reads (never writes) the
 * 'dropped' events of the event log, to say which messages an entry dropped.
 */
export function createSuppressionsRepo(db: Db) {
  // The RCPT-time read (issue 13). Four probes of the unique (address, scope) index in the order
  // that decides which entry applies: the address's global entry, its entry for the user, the
  // domain's global entry, the domain's for the user; the first live one wins (LIMIT 1 stops the
  // compound there). A miss (almost every RCPT) reads no table row and sorts nothing; the
  // statement it replaced (address IN (..) AND scope IN (..) ORDER BY .. LIMIT 1) cost 20-30 %
  // more on a miss and about half as much again on a hit at 1M entries (bench/RESULTS.md).
  const live = 'AND (expires_at IS NULL OR expires_at > @now)';
  const lookup = db.prepare(
    `SELECT * FROM suppressions WHERE address = @address AND scope = '' ${live}
     UNION ALL SELECT * FROM suppressions WHERE address = @address AND scope = @scope ${live}
     UNION ALL SELECT * FROM suppressions WHERE address = @domainKey AND scope = '' ${live}
     UNION ALL SELECT * FROM suppressions WHERE address = @domainKey AND scope = @scope ${live}
     LIMIT 1`,
  );
  const byKey = db.prepare('SELECT * FROM suppressions WHERE address = ? AND scope = ?');
  const byAddress = db.prepare("SELECT * FROM suppressions WHERE address = ? ORDER BY scope <> '', scope");
  const upsert = db.prepare(`INSERT INTO suppressions (${COLUMNS}) VALUES (@address, @domain, @category, @reason, @source, @scope, @createdAt, @expiresAt) ${ON_CONFLICT} RETURNING *`);
  const removeOne = db.prepare('DELETE FROM suppressions WHERE address = ? AND scope = ?');
  const hit = db.prepare('UPDATE suppressions SET hits = hits + ?, last_hit_at = max(coalesce(last_hit_at, 0), ?) WHERE id = ?');
  const hitMany = db.transaction((hits: readonly (readonly [id: number, count: number, at: number])[]) => {
    for (const [id, count, at] of hits) hit.run(count, at, id);
  });
  const all = db.prepare('SELECT * FROM suppressions ORDER BY id');
  const drops = db.prepare(
    `SELECT e.at, e.message_id, e.recipient, e.detail, m.sender, m.username
     FROM events e LEFT JOIN messages m ON m.id = e.message_id
     WHERE e.type = 'dropped' AND e.recipient = ? COLLATE NOCASE
     ORDER BY e.id DESC LIMIT ?`,
  );
  const domainDrops = db.prepare(
    `SELECT e.at, e.message_id, e.recipient, e.detail, m.sender, m.username
     FROM events e LEFT JOIN messages m ON m.id = e.message_id
     WHERE e.type = 'dropped' AND e.recipient LIKE ? ESCAPE '\\'
     ORDER BY e.id DESC LIMIT ?`,
  );

  const upsertRow = db.prepare(`INSERT INTO suppressions (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ${ON_CONFLICT}`);
  const upsertManyTx = db.transaction((rows: readonly NewSuppression[]): number => {
    // positional parameters: three times faster than named ones at a million rows
    for (const r of rows) upsertRow.run(r.address, r.domain, r.category, r.reason, r.source, r.scope ?? '', r.createdAt, r.expiresAt);
    return rows.length;
  });

  const upsertTx = db.transaction((entry: NewSuppression): { row: SuppressionRow; created: boolean } => {
    const scope = entry.scope ?? '';
    const before = byKey.get(entry.address, scope) as RawSuppression | undefined;
    const row = upsert.get({ ...entry, scope }) as RawSuppression;
    return { row: suppressionFromRaw(row), created: !before };
  });

  return {
    /** The entry that suppresses `address` for `user` (or globally), ignoring expired ones. */
    lookup(address: string, domain: string, user: string | null, now: number): SuppressionRow | undefined {
      const r = lookup.get({ address, domainKey: `@${domain}`, scope: user ?? '', now }) as RawSuppression | undefined;
      return r && suppressionFromRaw(r);
    },
    get(address: string, scope: string | null): SuppressionRow | undefined {
      const r = byKey.get(address, scope ?? '') as RawSuppression | undefined;
      return r && suppressionFromRaw(r);
    },
    /** Every entry for this key, global first, then each user's. */
    forAddress(address: string): SuppressionRow[] {
      return (byAddress.all(address) as RawSuppression[]).map(suppressionFromRaw);
    },
    /** Adds or updates the (address, scope) entry; created: false when it replaced one. */
    upsert(entry: NewSuppression): { row: SuppressionRow; created: boolean } {
      return upsertTx(entry);
    },
    /** Adds or updates many entries in one transaction, in order (the last row for a key wins); returns how many rows. */
    upsertMany(rows: readonly NewSuppression[]): number {
      return upsertManyTx(rows);
    },
    remove(address: string, scope: string | null): boolean {
      return removeOne.run(address, scope ?? '').changes === 1;
    },
    hit(id: number, at: number): void {
      hit.run(1, at, id);
    },
    /** Records many hits in one transaction: [entry id, how many, latest time]. */
    hitMany(hits: readonly (readonly [id: number, count: number, at: number])[]): void {
      hitMany(hits);
    },
    list(filter: SuppressionFilter, limit: number): SuppressionRow[] {
      const w = where(filter);
      const sql = `SELECT * FROM suppressions ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (db.prepare(sql).all(...w.params, limit) as RawSuppression[]).map(suppressionFromRaw);
    },
    count(filter: SuppressionFilter = {}): number {
      const w = where(filter);
      return (db.prepare(`SELECT count(*) AS n FROM suppressions ${w.sql}`).get(...w.params) as { n: number }).n;
    },
    /** Deletes every entry matching the filter (an empty filter: all); returns how many. */
    clear(filter: SuppressionFilter): number {
      const w = where(filter);
      return db.prepare(`DELETE FROM suppressions ${w.sql}`).run(...w.params).changes;
    },
    /** Every entry, oldest first, without loading them all. Do not use the connection while iterating. */
    iterate(): IterableIterator<SuppressionRow> {
      const it = all.iterate() as IterableIterator<RawSuppression>;
      return (function* () {
        for (const r of it) yield suppressionFromRaw(r);
      })();
    },
    /**
     * Stages rows in a connection-private temp table (many small transactions that do not touch
     * the shared database), then applies them all in ONE transaction on commit(), so a failed or
     * abandoned import leaves the list untouched and the stream is never read inside a transaction.
     */
    createImporter() {
      db.exec(`CREATE TEMP TABLE IF NOT EXISTS suppressions_import (${COLUMNS})`);
      db.exec('DELETE FROM temp.suppressions_import');
      // A larger page cache for this connection while a big import runs (a limit, not an allocation).
      const cacheSize = db.pragma('cache_size', { simple: true }) as number;
      db.pragma('cache_size = -131072');
      const done = () => {
        db.exec('DROP TABLE IF EXISTS temp.suppressions_import');
        db.pragma(`cache_size = ${cacheSize}`);
      };
      const stage = db.prepare(`INSERT INTO temp.suppressions_import (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
      const stageMany = db.transaction((rows: NewSuppression[]) => {
        // positional parameters: three times faster than named ones at a million rows
        for (const r of rows) stage.run(r.address, r.domain, r.category, r.reason, r.source, r.scope ?? '', r.createdAt, r.expiresAt);
      });
      // Sorted by key, the unique index is filled in order (much faster than random inserts);
      // rowid keeps the file order among duplicates, so the last line for an address wins.
      const apply = db.prepare(
        `INSERT INTO suppressions (${COLUMNS}) SELECT ${COLUMNS} FROM temp.suppressions_import WHERE true
         ORDER BY address, scope, rowid ${ON_CONFLICT}`,
      );
      const applyTx = db.transaction(() => apply.run().changes);
      let staged = 0;
      return {
        stage(rows: NewSuppression[]): void {
          stageMany(rows);
          staged += rows.length;
        },
        get staged() {
          return staged;
        },
        /** Applies everything staged in one transaction; returns the number of rows applied. */
        commit(): number {
          try {
            applyTx();
            return staged;
          } finally {
            done();
          }
        },
        abort(): void {
          done();
        },
      };
    },
    /**
     * The 'dropped' events for one address (case-insensitive), or for every address of a domain
     * when `address` is `@domain`, newest first.
     */
    drops(address: string, limit: number): DropRow[] {
      const rows = (
        address.startsWith('@')
          ? domainDrops.all(`%${address.replace(/[\\%_]/g, (c) => `\\${c}`)}`, limit)
          : drops.all(address, limit)
      ) as RawDrop[];
      return rows.map(dropFromRaw);
    },
  };
}

export type SuppressionsRepo = ReturnType<typeof createSuppressionsRepo>;

/** A 'dropped' event joined with its message, as both engines read it. */
export interface RawDrop {
  at: number;
  message_id: string;
  recipient: string;
  detail: string | null;
  sender: string | null;
  username: string | null;
}

export function dropFromRaw(r: RawDrop): DropRow {
  return {
    at: r.at,
    messageId: r.message_id,
    recipient: r.recipient,
    sender: r.sender,
    username: r.username,
    reason: r.detail ? ((JSON.parse(r.detail) as { reason?: string }).reason ?? null) : null,
  };
}
