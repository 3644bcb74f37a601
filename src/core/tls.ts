/**
 * The contract between outbound TLS policy (deliver/: MTA-STS, DANE, TLS levels) and what reads
 * its results (TLS-RPT reporting, REQUIRETLS, attempt records, metrics). deliver fills these in;
 * it never decides what a report says, and the reporter never looks inside a TLS session.
 */

/** Which policy governed one MX session; `none` is opportunistic STARTTLS. */
export type TlsPolicyApplied = 'none' | 'sts-testing' | 'sts-enforce' | 'dane';

/**
 * RFC 8460 §4.3 result types, plus `success`. Each session to a policy domain's MX ends in exactly
 * one of these; the TLS-RPT aggregate counts them per policy and day.
 */
export type TlsResultType =
  | 'success'
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

/** The policy as RFC 8460 §4.4 reports it (`policy-type`, `policy-string`, `mx-host`). */
export interface TlsPolicyDescription {
  type: 'sts' | 'tlsa' | 'no-policy-found';
  /** the policy text as lines (MTA-STS: the policy file's lines; DANE: one line per TLSA record) */
  strings: string[];
  /** MX patterns of an MTA-STS policy; empty otherwise */
  mxHosts: string[];
}

/** What one outbound session's TLS came to, for one recipient domain. */
export interface TlsSessionResult {
  at: number;
  /** the recipient domain whose policy applied (never the MX group or a smarthost) */
  policyDomain: string;
  policyApplied: TlsPolicyApplied;
  policy: TlsPolicyDescription;
  result: TlsResultType;
  /** MX host name and address the session went to */
  mxHost: string;
  receivingIp: string | null;
  /** the MX's EHLO name or the name it was reached by; RFC 8460 `receiving-mx-helo` */
  receivingMxHelo: string | null;
  /** free text for the report's `failure-reason-code` and for operators */
  detail: string | null;
  /** TLS actually negotiated (null when the session stayed in clear text) */
  protocol: string | null;
  cipher: string | null;
  /** the peer certificate chain was valid for the MX name (or matched TLSA) */
  verified: boolean;
  /** true when the server advertised REQUIRETLS after STARTTLS */
  requireTlsOffered: boolean;
}

/** Where deliver hands each session's result (TLS-RPT counts, metrics). Must not throw or block. */
export interface TlsResultSink {
  record(result: TlsSessionResult): void;
}
