import type { Db } from './db.js';
import type { MtaStsPolicyRow } from '../core/tls-store-types.js';
import { mtaStsFromRaw, mtaStsToRaw, type RawMtaStsPolicy } from './tls-rows.js';
export type { MtaStsPolicyRow } from '../core/tls-store-types.js';

/** The only code that knows the SQL of `mta_sts_policies` (rows mapped in tls-rows.ts, shared with PostgreSQL). */
export function createMtaStsRepo(db: Db) {
  const byDomain = db.prepare('SELECT * FROM mta_sts_policies WHERE domain = ?');
  const upsert = db.prepare(
    `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, text, fetched_at, expires_at)
     VALUES (@domain, @policy_id, @mode, @mx, @max_age_seconds, @text, @fetched_at, @expires_at)
     ON CONFLICT(domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
       max_age_seconds = excluded.max_age_seconds, text = excluded.text, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
  );
  const remove = db.prepare('DELETE FROM mta_sts_policies WHERE domain = ?');
  return {
    get(domain: string): MtaStsPolicyRow | null {
      const r = byDomain.get(domain.toLowerCase()) as RawMtaStsPolicy | undefined;
      return r ? mtaStsFromRaw(r) : null;
    },
    put(p: MtaStsPolicyRow): void {
      upsert.run(mtaStsToRaw(p));
    },
    delete(domain: string): void {
      remove.run(domain.toLowerCase());
    },
  };
}

export type MtaStsRepo = ReturnType<typeof createMtaStsRepo>;
