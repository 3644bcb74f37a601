import type { Migration } from './types.js';

/**
 * TLS-RPT (RFC 8460) counts and what was sent.
 *
 * - tls_report_policies: one row per UTC day, policy domain and policy (type, policy strings and
 *   MX patterns as JSON arrays): successful and failed sessions;
 * - tls_report_failures: the failed sessions of a policy row by result type and receiving MX
 *   (host name, address, EHLO name) and reason;
 * - tls_report_sent: per day, policy domain and destination (an rua URI; '' for the domain as a
 *   whole) what became of the report, so a restart never sends one twice.
 */
export const migration018: Migration = {
  version: 18,
  name: 'tls-reports',
  up: `
    CREATE TABLE tls_report_policies (
      id             INTEGER PRIMARY KEY,
      day            TEXT NOT NULL,
      policy_domain  TEXT NOT NULL,
      policy_type    TEXT NOT NULL,
      policy_strings TEXT NOT NULL,
      mx_hosts       TEXT NOT NULL,
      success_count  INTEGER NOT NULL DEFAULT 0,
      failure_count  INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX tls_report_policies_key ON tls_report_policies (day, policy_domain, policy_type, policy_strings, mx_hosts);
    CREATE TABLE tls_report_failures (
      policy_id             INTEGER NOT NULL REFERENCES tls_report_policies (id) ON DELETE CASCADE,
      result_type           TEXT NOT NULL,
      receiving_mx_hostname TEXT NOT NULL,
      receiving_ip          TEXT NOT NULL,
      receiving_mx_helo     TEXT NOT NULL,
      failure_reason_code   TEXT NOT NULL,
      count                 INTEGER NOT NULL,
      PRIMARY KEY (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code)
    );
    CREATE TABLE tls_report_sent (
      day           TEXT NOT NULL,
      policy_domain TEXT NOT NULL,
      destination   TEXT NOT NULL,
      state         TEXT NOT NULL,
      report_id     TEXT,
      detail        TEXT,
      at            INTEGER NOT NULL,
      PRIMARY KEY (day, policy_domain, destination)
    );
  `,
};
