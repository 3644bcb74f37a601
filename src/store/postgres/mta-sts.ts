import type { MtaStsStore } from '../../core/store.js';
import { mtaStsFromRaw, mtaStsToRaw, type RawMtaStsPolicy } from '../tls-rows.js';
import { one } from './sql.js';
import type { PgPool } from './pool.js';

/** The MTA-STS policy cache (src/store/mta-sts-repo.ts): one row per recipient domain, lower case (rows mapped in tls-rows.ts). */
export function createPgMtaSts(pool: PgPool): MtaStsStore {
  return {
    async get(domain) {
      const r = await one<RawMtaStsPolicy>(pool, 'SELECT * FROM mta_sts_policies WHERE domain = $1', [domain.toLowerCase()]);
      return r ? mtaStsFromRaw(r) : null;
    },
    async put(p) {
      const r = mtaStsToRaw(p);
      await pool.query(
        `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, text, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
           max_age_seconds = excluded.max_age_seconds, text = excluded.text, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
        [r.domain, r.policy_id, r.mode, r.mx, r.max_age_seconds, r.text, r.fetched_at, r.expires_at],
      );
    },
    async delete(domain) {
      await pool.query('DELETE FROM mta_sts_policies WHERE domain = $1', [domain.toLowerCase()]);
    },
  };
}
