import { relaxedDurability, type Db } from './db.js';
import type { TlsCountsDelta, TlsPolicyCounts, TlsSentRow } from '../core/tls-store-types.js';
import { tlsPolicyFromRaw, tlsPolicyKey, tlsSentFromRaw, type RawTlsFailure, type RawTlsPolicy, type RawTlsSent } from './tls-rows.js';
export type { TlsCountsDelta, TlsFailureDetail, TlsPolicyCounts, TlsReportPolicy, TlsSentRow, TlsSentState } from '../core/tls-store-types.js';

/**
 * The only code that knows the SQL of the TLS-RPT tables (migration 018): session counts per
 * UTC day, policy domain and policy, their failure details, and what was sent where. Rows are
 * mapped in tls-rows.ts (shared with the PostgreSQL engine).
 */

export function createTlsReportRepo(db: Db) {
  const upsertPolicy = db.prepare(
    `INSERT INTO tls_report_policies (day, policy_domain, policy_type, policy_strings, mx_hosts, success_count, failure_count)
     VALUES (@day, @policy_domain, @policy_type, @policy_strings, @mx_hosts, @success, @failure)
     ON CONFLICT (day, policy_domain, policy_type, policy_strings, mx_hosts)
     DO UPDATE SET success_count = success_count + excluded.success_count, failure_count = failure_count + excluded.failure_count
     RETURNING id`,
  );
  const upsertFailure = db.prepare(
    `INSERT INTO tls_report_failures (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code, count)
     VALUES (@policyId, @resultType, @host, @ip, @helo, @reason, @count)
     ON CONFLICT (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code)
     DO UPDATE SET count = count + excluded.count`,
  );
  const policiesOfDay = db.prepare('SELECT * FROM tls_report_policies WHERE day = ? ORDER BY policy_domain, id');
  const policiesOfDomain = db.prepare('SELECT * FROM tls_report_policies WHERE day = ? AND policy_domain = ? ORDER BY id');
  const failuresOf = db.prepare('SELECT * FROM tls_report_failures WHERE policy_id = ? ORDER BY count DESC, result_type');
  const pendingPairs = db.prepare(
    `SELECT DISTINCT p.day, p.policy_domain FROM tls_report_policies p
     WHERE p.day >= @from AND p.day <= @to
       AND NOT EXISTS (SELECT 1 FROM tls_report_sent s WHERE s.day = p.day AND s.policy_domain = p.policy_domain AND s.destination = '')
     ORDER BY p.day, p.policy_domain`,
  );
  const insertSent = db.prepare(
    `INSERT INTO tls_report_sent (day, policy_domain, destination, state, report_id, detail, at)
     VALUES (@day, @policyDomain, @destination, @state, @reportId, @detail, @at)
     ON CONFLICT (day, policy_domain, destination) DO UPDATE SET state = excluded.state, report_id = excluded.report_id, detail = excluded.detail, at = excluded.at`,
  );
  const sentOf = db.prepare('SELECT * FROM tls_report_sent WHERE day = ? AND policy_domain = ? ORDER BY destination');
  const sentOfDay = db.prepare('SELECT * FROM tls_report_sent WHERE day = ? ORDER BY policy_domain, destination');
  const pruneOld = db.prepare('DELETE FROM tls_report_policies WHERE day < ?');
  const pruneSent = db.prepare('DELETE FROM tls_report_sent WHERE day < ?');

  const add = db.transaction((deltas: readonly TlsCountsDelta[]) => {
    for (const d of deltas) {
      const { id } = upsertPolicy.get({ ...tlsPolicyKey(d), success: d.success, failure: d.failure }) as { id: number };
      for (const f of d.failures) {
        upsertFailure.run({ policyId: id, resultType: f.resultType, host: f.receivingMxHostname, ip: f.receivingIp, helo: f.receivingMxHelo, reason: f.failureReasonCode, count: f.count });
      }
    }
  });

  const withFailures = (rows: RawTlsPolicy[]): TlsPolicyCounts[] => rows.map((r) => tlsPolicyFromRaw(r, failuresOf.all(r.id) as RawTlsFailure[]));

  return {
    /**
     * Adds a batch of counts in one transaction. Without the full fsync (synchronous=NORMAL, as
     * for signing): counts lost to a power cut only shorten a report, they never lose mail.
     */
    add(deltas: readonly TlsCountsDelta[]): void {
      if (deltas.length) relaxedDurability(db, () => add(deltas));
    },
    /** Every policy counted on a day, with its failure details. */
    day(day: string): TlsPolicyCounts[] {
      return withFailures(policiesOfDay.all(day) as RawTlsPolicy[]);
    },
    /** One policy domain's policies on a day, with their failure details. */
    domain(day: string, policyDomain: string): TlsPolicyCounts[] {
      return withFailures(policiesOfDomain.all(day, policyDomain) as RawTlsPolicy[]);
    },
    /** Day and policy domain pairs in [from, to] whose report is not finished. */
    pending(from: string, to: string): { day: string; policyDomain: string }[] {
      return (pendingPairs.all({ from, to }) as { day: string; policy_domain: string }[]).map((r) => ({ day: r.day, policyDomain: r.policy_domain }));
    },
    markSent(row: TlsSentRow): void {
      insertSent.run(row);
    },
    sent(day: string, policyDomain: string): TlsSentRow[] {
      return (sentOf.all(day, policyDomain) as RawTlsSent[]).map(tlsSentFromRaw);
    },
    sentOnDay(day: string): TlsSentRow[] {
      return (sentOfDay.all(day) as RawTlsSent[]).map(tlsSentFromRaw);
    },
    /** Forgets counts and send records of days before `day`. */
    prune(day: string): number {
      const n = pruneOld.run(day).changes;
      pruneSent.run(day);
      return n;
    },
  };
}

export type TlsReportRepo = ReturnType<typeof createTlsReportRepo>;
