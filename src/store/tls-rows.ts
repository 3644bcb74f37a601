import type { MtaStsPolicyRow, TlsCountsDelta, TlsFailureDetail, TlsPolicyCounts, TlsSentRow, TlsSentState } from '../core/tls-store-types.js';

/**
 * The rows of the MTA-STS policy cache and the TLS-RPT tables, engine-neutral: both engines
 * (mta-sts-repo.ts and tls-report-repo.ts for SQLite, postgres/mta-sts.ts and
 * postgres/tls-reports.ts) have the same columns and turn them into the Store's objects here;
 * only their SQL differs. JSON lists are stored as TEXT holding JSON in both.
 */

export interface RawMtaStsPolicy {
  domain: string;
  policy_id: string;
  mode: MtaStsPolicyRow['mode'];
  mx: string;
  max_age_seconds: number;
  text: string;
  fetched_at: number;
  expires_at: number;
}

export const mtaStsFromRaw = (r: RawMtaStsPolicy): MtaStsPolicyRow => ({
  domain: r.domain,
  policyId: r.policy_id,
  mode: r.mode,
  mx: JSON.parse(r.mx) as string[],
  maxAgeSeconds: r.max_age_seconds,
  text: r.text,
  fetchedAt: r.fetched_at,
  expiresAt: r.expires_at,
});

/** The row a policy is stored as: the domain lower-cased (names are matched lower-cased), the MX list as JSON. */
export const mtaStsToRaw = (p: MtaStsPolicyRow): RawMtaStsPolicy => ({
  domain: p.domain.toLowerCase(),
  policy_id: p.policyId,
  mode: p.mode,
  mx: JSON.stringify(p.mx),
  max_age_seconds: p.maxAgeSeconds,
  text: p.text,
  fetched_at: p.fetchedAt,
  expires_at: p.expiresAt,
});

export interface RawTlsPolicy {
  id: number;
  day: string;
  policy_domain: string;
  policy_type: string;
  policy_strings: string;
  mx_hosts: string;
  success_count: number;
  failure_count: number;
}

export interface RawTlsFailure {
  policy_id: number;
  result_type: string;
  receiving_mx_hostname: string;
  receiving_ip: string;
  receiving_mx_helo: string;
  failure_reason_code: string;
  count: number;
}

export interface RawTlsSent {
  day: string;
  policy_domain: string;
  destination: string;
  state: TlsSentState;
  report_id: string | null;
  detail: string | null;
  at: number;
}

/** A delta's policy as the key columns of tls_report_policies (the JSON text is part of the unique key). */
export const tlsPolicyKey = (d: TlsCountsDelta): Pick<RawTlsPolicy, 'day' | 'policy_domain' | 'policy_type' | 'policy_strings' | 'mx_hosts'> => ({
  day: d.day,
  policy_domain: d.policyDomain,
  policy_type: d.policy.type,
  policy_strings: JSON.stringify(d.policy.strings),
  mx_hosts: JSON.stringify(d.policy.mxHosts),
});

export const tlsFailureFromRaw = (f: RawTlsFailure): TlsFailureDetail => ({
  resultType: f.result_type,
  receivingMxHostname: f.receiving_mx_hostname,
  receivingIp: f.receiving_ip,
  receivingMxHelo: f.receiving_mx_helo,
  failureReasonCode: f.failure_reason_code,
  count: f.count,
});

/** A policy row with its failure rows (already in their order: count descending, then result type). */
export const tlsPolicyFromRaw = (r: RawTlsPolicy, failures: readonly RawTlsFailure[]): TlsPolicyCounts => ({
  day: r.day,
  policyDomain: r.policy_domain,
  policy: { type: r.policy_type, strings: JSON.parse(r.policy_strings) as string[], mxHosts: JSON.parse(r.mx_hosts) as string[] },
  success: r.success_count,
  failure: r.failure_count,
  failures: failures.map(tlsFailureFromRaw),
});

export const tlsSentFromRaw = (r: RawTlsSent): TlsSentRow => ({
  day: r.day,
  policyDomain: r.policy_domain,
  destination: r.destination,
  state: r.state,
  reportId: r.report_id,
  detail: r.detail,
  at: r.at,
});
