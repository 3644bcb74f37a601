import { FerryError } from '../../core/errors.js';
import type { DkimKeyRow } from '../dkim-keys-repo.js';
import { changes, rows } from './sql.js';
import type { PgPool } from './pool.js';

const toRow = (r: Record<string, unknown>): DkimKeyRow => ({
  domain: r.domain as string,
  selector: r.selector as string,
  algorithm: r.algorithm as 'rsa' | 'ed25519',
  keyFile: r.key_file as string,
  publicKey: r.public_key as string,
  createdAt: r.created_at as number,
});

/**
 * DKIM key references (src/store/dkim-keys-repo.ts). As in the SQLite engine the row holds the
 * key file's path and the public half, never the private key: the operator distributes the PEM
 * files to every node at the same path (README "Many nodes on PostgreSQL" says why).
 */
export function createPgDkimKeys(pool: PgPool) {
  return {
    async add(row: DkimKeyRow): Promise<void> {
      try {
        await pool.query('INSERT INTO dkim_keys (domain, selector, algorithm, key_file, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
          row.domain.toLowerCase(),
          row.selector,
          row.algorithm,
          row.keyFile,
          row.publicKey,
          row.createdAt,
        ]);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') {
          throw new FerryError('FERRY_ERR_EXISTS', `DKIM key ${row.selector}._domainkey.${row.domain} already exists`, { cause: err });
        }
        throw new FerryError('FERRY_ERR_STORE', `cannot store DKIM key: ${(err as Error).message}`, { cause: err });
      }
    },
    async list(): Promise<DkimKeyRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM dkim_keys ORDER BY domain, selector')).map(toRow);
    },
    async remove(domain: string, selector: string): Promise<boolean> {
      return (await changes(pool, 'DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2', [domain.toLowerCase(), selector])) > 0;
    },
    async byDomain(domain: string): Promise<DkimKeyRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM dkim_keys WHERE domain = $1 ORDER BY selector', [domain.toLowerCase()])).map(toRow);
    },
  };
}
