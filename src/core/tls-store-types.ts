import type { AttemptRow } from './store-types.js';

/**
 * The store's rows about outbound TLS (issue 15), beside the rows of the queue in store-types.ts:
 * an attempt's TLS outcome, the MTA-STS policy cache, and the TLS-RPT counts and sends. Plain
 * data only, like every store row (they cross a worker thread or a network unchanged).
 */

/** One attempt's TLS outcome, for `ferry tls check` (AttemptsStore.recentTls). */
export interface RecentTlsRow {
  at: number;
  result: AttemptRow['result'];
  mxHost: string | null;
  ip: string | null;
  tlsProtocol: string | null;
  tlsCipher: string | null;
  tlsVerified: boolean | null;
  tlsPolicy: string | null;
  tlsResult: string | null;
}

/** One cached MTA-STS policy of a recipient domain (RFC 8461 §5). */
export interface MtaStsPolicyRow {
  domain: string;
  /** the `id=` of the TXT record the policy was fetched under */
  policyId: string;
  mode: 'enforce' | 'testing' | 'none';
  /** MX patterns as the policy lists them (lower case; may start with "*.") */
  mx: string[];
  maxAgeSeconds: number;
  /** the policy file as fetched */
  text: string;
  fetchedAt: number;
  expiresAt: number;
}

/** A TLS-RPT policy as counted: RFC 8460 §4.4 policy-type, policy-string and mx-host. */
export interface TlsReportPolicy {
  type: string;
  strings: string[];
  mxHosts: string[];
}

export interface TlsFailureDetail {
  resultType: string;
  receivingMxHostname: string;
  receivingIp: string;
  receivingMxHelo: string;
  failureReasonCode: string;
  count: number;
}

/** TLS-RPT counts to add for one day, policy domain and policy (one sink flush holds many). */
export interface TlsCountsDelta {
  day: string;
  policyDomain: string;
  policy: TlsReportPolicy;
  success: number;
  failure: number;
  failures: TlsFailureDetail[];
}

/** A day's stored counts for one policy domain and policy: the same shape as what is added to them. */
export type TlsPolicyCounts = TlsCountsDelta;

export type TlsSentState = 'queued' | 'sent' | 'failed' | 'no-record' | 'done' | 'gave-up';

export interface TlsSentRow {
  day: string;
  policyDomain: string;
  /** an rua URI, or '' for the policy domain as a whole */
  destination: string;
  state: TlsSentState;
  reportId: string | null;
  detail: string | null;
  at: number;
}
