import { gzipSync } from 'node:zlib';
import type { TlsPolicyCounts } from '../store/tls-report-repo.js';

/**
 * Pure: the RFC 8460 §4 aggregate report for one policy domain and one UTC day, its gzip
 * (§5.1), file name (§5.1) and mail subject (§5.3).
 */

export interface TlsRptFailureDetailJson {
  'result-type': string;
  'receiving-mx-hostname'?: string;
  'receiving-ip'?: string;
  'receiving-mx-helo'?: string;
  'failed-session-count': number;
  'failure-reason-code'?: string;
}

export interface TlsRptPolicyJson {
  policy: {
    'policy-type': string;
    'policy-string'?: string[];
    'policy-domain': string;
    'mx-host'?: string[];
  };
  summary: { 'total-successful-session-count': number; 'total-failure-session-count': number };
  'failure-details'?: TlsRptFailureDetailJson[];
}

export interface TlsRptReportJson {
  'organization-name': string;
  'date-range': { 'start-datetime': string; 'end-datetime': string };
  'contact-info': string;
  'report-id': string;
  policies: TlsRptPolicyJson[];
}

export interface ReportInput {
  organization: string;
  contact: string;
  /** the reporting MTA's name (the "sender" of §5.1's file name, the report-id's domain) */
  submitter: string;
  day: string;
  policyDomain: string;
  policies: readonly TlsPolicyCounts[];
}

export function dayRange(day: string): { start: number; end: number } {
  const start = Date.parse(`${day}T00:00:00Z`);
  return { start, end: start + 86_400_000 };
}

/** The same id for the same day and domain, so a receiver can tell a repeat (after a crash) from a new report. */
export function reportId(day: string, policyDomain: string, submitter: string): string {
  return `${day}.${policyDomain}@${submitter}`;
}

export function buildReport(input: ReportInput): TlsRptReportJson {
  const { start } = dayRange(input.day);
  return {
    'organization-name': input.organization,
    'date-range': {
      'start-datetime': new Date(start).toISOString().replace('.000Z', 'Z'),
      'end-datetime': new Date(start + 86_399_000).toISOString().replace('.000Z', 'Z'),
    },
    'contact-info': input.contact,
    'report-id': reportId(input.day, input.policyDomain, input.submitter),
    policies: input.policies.map((p) => {
      const policy: TlsRptPolicyJson['policy'] = { 'policy-type': p.policy.type, 'policy-domain': input.policyDomain };
      if (p.policy.strings.length) policy['policy-string'] = [...p.policy.strings];
      if (p.policy.mxHosts.length) policy['mx-host'] = [...p.policy.mxHosts];
      const out: TlsRptPolicyJson = {
        policy,
        summary: { 'total-successful-session-count': p.success, 'total-failure-session-count': p.failure },
      };
      if (p.failures.length) {
        out['failure-details'] = p.failures.map((f) => {
          const d: TlsRptFailureDetailJson = { 'result-type': f.resultType, 'failed-session-count': f.count };
          if (f.receivingMxHostname) d['receiving-mx-hostname'] = f.receivingMxHostname;
          if (f.receivingIp) d['receiving-ip'] = f.receivingIp;
          if (f.receivingMxHelo) d['receiving-mx-helo'] = f.receivingMxHelo;
          if (f.failureReasonCode) d['failure-reason-code'] = f.failureReasonCode;
          return d;
        });
      }
      return out;
    }),
  };
}

export function gzipReport(report: TlsRptReportJson): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(report), 'utf8'));
}

/** §5.1: sender "!" policy-domain "!" begin-timestamp "!" end-timestamp ".json.gz" (seconds since the epoch). */
export function reportFileName(submitter: string, day: string, policyDomain: string): string {
  const { start, end } = dayRange(day);
  return `${submitter}!${policyDomain}!${start / 1000}!${end / 1000 - 1}.json.gz`;
}

/** §5.3: "Report Domain: <policy-domain> Submitter: <sender> Report-ID: <report-id>". */
export function reportSubject(submitter: string, policyDomain: string, id: string): string {
  return `Report Domain: ${policyDomain} Submitter: ${submitter} Report-ID: <${id}>`;
}
