import type { TlsReportsStore } from '../../core/store.js';
import type { TlsPolicyCounts } from '../../core/tls-store-types.js';
import { tlsPolicyFromRaw, tlsPolicyKey, tlsSentFromRaw, type RawTlsFailure, type RawTlsPolicy, type RawTlsSent } from '../tls-rows.js';
import { inTransaction, type PgPool } from './pool.js';
import { rows, type Queryable } from './sql.js';

/** TLS-RPT counts and send records (src/store/tls-report-repo.ts), the same semantics; rows mapped in tls-rows.ts. */
export function createPgTlsReports(pool: PgPool): TlsReportsStore {
  const withFailures = async (db: Queryable, policies: RawTlsPolicy[]): Promise<TlsPolicyCounts[]> => {
    if (policies.length === 0) return [];
    const failures = await rows<RawTlsFailure>(db, 'SELECT * FROM tls_report_failures WHERE policy_id = ANY($1::bigint[]) ORDER BY count DESC, result_type', [policies.map((p) => p.id)]);
    return policies.map((r) => tlsPolicyFromRaw(r, failures.filter((f) => f.policy_id === r.id)));
  };

  return {
    async add(deltas) {
      if (deltas.length === 0) return;
      await inTransaction(pool, async (c) => {
        for (const d of deltas) {
          const k = tlsPolicyKey(d);
          const r = await c.query<{ id: number }>(
            `INSERT INTO tls_report_policies AS p (day, policy_domain, policy_type, policy_strings, mx_hosts, success_count, failure_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (day, policy_domain, policy_type, policy_strings, mx_hosts)
             DO UPDATE SET success_count = p.success_count + excluded.success_count, failure_count = p.failure_count + excluded.failure_count
             RETURNING id`,
            [k.day, k.policy_domain, k.policy_type, k.policy_strings, k.mx_hosts, d.success, d.failure],
          );
          const id = r.rows[0]!.id;
          for (const f of d.failures) {
            await c.query(
              `INSERT INTO tls_report_failures AS f (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code, count)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code)
               DO UPDATE SET count = f.count + excluded.count`,
              [id, f.resultType, f.receivingMxHostname, f.receivingIp, f.receivingMxHelo, f.failureReasonCode, f.count],
            );
          }
        }
      });
    },
    async day(day) {
      return withFailures(pool, await rows<RawTlsPolicy>(pool, 'SELECT * FROM tls_report_policies WHERE day = $1 ORDER BY policy_domain, id', [day]));
    },
    async domain(day, policyDomain) {
      return withFailures(pool, await rows<RawTlsPolicy>(pool, 'SELECT * FROM tls_report_policies WHERE day = $1 AND policy_domain = $2 ORDER BY id', [day, policyDomain]));
    },
    async pending(from, to) {
      const r = await rows<{ day: string; policy_domain: string }>(
        pool,
        `SELECT DISTINCT p.day, p.policy_domain FROM tls_report_policies p
         WHERE p.day >= $1 AND p.day <= $2
           AND NOT EXISTS (SELECT 1 FROM tls_report_sent s WHERE s.day = p.day AND s.policy_domain = p.policy_domain AND s.destination = '')
         ORDER BY p.day, p.policy_domain`,
        [from, to],
      );
      return r.map((x) => ({ day: x.day, policyDomain: x.policy_domain }));
    },
    async markSent(row) {
      await pool.query(
        `INSERT INTO tls_report_sent (day, policy_domain, destination, state, report_id, detail, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (day, policy_domain, destination) DO UPDATE SET state = excluded.state, report_id = excluded.report_id, detail = excluded.detail, at = excluded.at`,
        [row.day, row.policyDomain, row.destination, row.state, row.reportId, row.detail, row.at],
      );
    },
    async sent(day, policyDomain) {
      return (await rows<RawTlsSent>(pool, 'SELECT * FROM tls_report_sent WHERE day = $1 AND policy_domain = $2 ORDER BY destination', [day, policyDomain])).map(tlsSentFromRaw);
    },
    async sentOnDay(day) {
      return (await rows<RawTlsSent>(pool, 'SELECT * FROM tls_report_sent WHERE day = $1 ORDER BY policy_domain, destination', [day])).map(tlsSentFromRaw);
    },
    async prune(day) {
      return inTransaction(pool, async (c) => {
        const n = (await c.query('DELETE FROM tls_report_policies WHERE day < $1', [day])).rowCount ?? 0;
        await c.query('DELETE FROM tls_report_sent WHERE day < $1', [day]);
        return n;
      });
    },
  };
}
