import type { Db } from './db.js';
import { FerryError } from '../core/errors.js';
import type { DkimKeyRow } from '../core/store-types.js';
export type { DkimKeyRow } from '../core/store-types.js';

/** The only code that knows the dkim_keys table's SQL; other stores can implement the same interface. */
export interface DkimKeysRepo {
  /** Throws FERRY_ERR_EXISTS when (domain, selector) is taken. */
  add(row: DkimKeyRow): void;
  list(): DkimKeyRow[];
  /** true when a row was removed. */
  remove(domain: string, selector: string): boolean;
  byDomain(domain: string): DkimKeyRow[];
}

interface RawRow {
  domain: string;
  selector: string;
  algorithm: 'rsa' | 'ed25519';
  key_file: string;
  public_key: string;
  created_at: number;
}

const toRow = (r: RawRow): DkimKeyRow => ({
  domain: r.domain,
  selector: r.selector,
  algorithm: r.algorithm,
  keyFile: r.key_file,
  publicKey: r.public_key,
  createdAt: r.created_at,
});

export function createDkimKeysRepo(db: Db): DkimKeysRepo {
  const insert = db.prepare(
    'INSERT INTO dkim_keys (domain, selector, algorithm, key_file, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const all = db.prepare('SELECT * FROM dkim_keys ORDER BY domain, selector');
  const del = db.prepare('DELETE FROM dkim_keys WHERE domain = ? AND selector = ?');
  const forDomain = db.prepare('SELECT * FROM dkim_keys WHERE domain = ? ORDER BY selector');
  return {
    add(row) {
      try {
        insert.run(row.domain.toLowerCase(), row.selector, row.algorithm, row.keyFile, row.publicKey, row.createdAt);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new FerryError('FERRY_ERR_EXISTS', `DKIM key ${row.selector}._domainkey.${row.domain} already exists`, { cause: err });
        }
        throw new FerryError('FERRY_ERR_STORE', `cannot store DKIM key: ${(err as Error).message}`, { cause: err });
      }
    },
    list: () => (all.all() as RawRow[]).map(toRow),
    remove: (domain, selector) => del.run(domain.toLowerCase(), selector).changes > 0,
    byDomain: (domain) => (forDomain.all(domain.toLowerCase()) as RawRow[]).map(toRow),
  };
}
