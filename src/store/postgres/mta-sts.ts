import type { MtaStsStore } from '../../core/store.js';
import type { MtaStsPolicyRow } from '../../core/store-types.js';
import { one } from './sql.js';
import type { PgPool } from './pool.js';

interface Raw {
  domain: string;
  policy_id: string;
  mode: MtaStsPolicyRow['mode'];
  mx: string;
  max_age_seconds: number;
  text: string;
  fetched_at: number;
  expires_at: number;
}

/** The MTA-STS policy cache (src/store/mta-sts-repo.ts): one row per recipient domain, lower case. */
export function createPgMtaSts(pool: PgPool): MtaStsStore {
  return {
    async get(domain) {
      const r = await one<Raw>(pool, 'SELECT * FROM mta_sts_policies WHERE domain = $1', [domain.toLowerCase()]);
      if (!r) return null;
      return {
        domain: r.domain,
        policyId: r.policy_id,
        mode: r.mode,
        mx: JSON.parse(r.mx) as string[],
        maxAgeSeconds: r.max_age_seconds,
        text: r.text,
        fetchedAt: r.fetched_at,
        expiresAt: r.expires_at,
      };
    },
    async put(p) {
      await pool.query(
        `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, text, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
           max_age_seconds = excluded.max_age_seconds, text = excluded.text, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
        [p.domain.toLowerCase(), p.policyId, p.mode, JSON.stringify(p.mx), p.maxAgeSeconds, p.text, p.fetchedAt, p.expiresAt],
      );
    },
    async delete(domain) {
      await pool.query('DELETE FROM mta_sts_policies WHERE domain = $1', [domain.toLowerCase()]);
    },
  };
}
