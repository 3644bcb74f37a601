import type { Db } from './db.js';
import type { MtaStsPolicyRow } from '../core/store-types.js';
export type { MtaStsPolicyRow } from '../core/store-types.js';

interface RawPolicy {
  domain: string;
  policy_id: string;
  mode: MtaStsPolicyRow['mode'];
  mx: string;
  max_age_seconds: number;
  text: string;
  fetched_at: number;
  expires_at: number;
}

/** The only code that knows the SQL of `mta_sts_policies`. */
export function createMtaStsRepo(db: Db) {
  const byDomain = db.prepare('SELECT * FROM mta_sts_policies WHERE domain = ?');
  const upsert = db.prepare(
    `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, text, fetched_at, expires_at)
     VALUES (@domain, @policyId, @mode, @mx, @maxAgeSeconds, @text, @fetchedAt, @expiresAt)
     ON CONFLICT(domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
       max_age_seconds = excluded.max_age_seconds, text = excluded.text, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
  );
  const remove = db.prepare('DELETE FROM mta_sts_policies WHERE domain = ?');
  const toRow = (r: RawPolicy): MtaStsPolicyRow => ({
    domain: r.domain,
    policyId: r.policy_id,
    mode: r.mode,
    mx: JSON.parse(r.mx) as string[],
    maxAgeSeconds: r.max_age_seconds,
    text: r.text,
    fetchedAt: r.fetched_at,
    expiresAt: r.expires_at,
  });
  return {
    get(domain: string): MtaStsPolicyRow | null {
      const r = byDomain.get(domain.toLowerCase()) as RawPolicy | undefined;
      return r ? toRow(r) : null;
    },
    put(p: MtaStsPolicyRow): void {
      upsert.run({ ...p, domain: p.domain.toLowerCase(), mx: JSON.stringify(p.mx) });
    },
    delete(domain: string): void {
      remove.run(domain.toLowerCase());
    },
  };
}

export type MtaStsRepo = ReturnType<typeof createMtaStsRepo>;
