import type { PgMigration } from './types.js';

/**
 * The MTA-STS policy cache and the TLS-RPT counts (SQLite migrations 016 and 018): the same
 * tables, with BIGINT times and identity ids. JSON lists (mx, policy strings, MX hosts) stay TEXT
 * holding JSON, as in SQLite: they are part of the counts' unique key, compared as text.
 */
export const pgMigration004: PgMigration = {
  version: 4,
  name: 'tls',
  up: `
    CREATE TABLE mta_sts_policies (
      domain          TEXT PRIMARY KEY,
      policy_id       TEXT NOT NULL,
      mode            TEXT NOT NULL,
      mx              TEXT NOT NULL,
      max_age_seconds INTEGER NOT NULL,
      text            TEXT NOT NULL,
      fetched_at      BIGINT NOT NULL,
      expires_at      BIGINT NOT NULL
    );

    CREATE TABLE tls_report_policies (
      id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      day            TEXT NOT NULL,
      policy_domain  TEXT NOT NULL,
      policy_type    TEXT NOT NULL,
      policy_strings TEXT NOT NULL,
      mx_hosts       TEXT NOT NULL,
      success_count  BIGINT NOT NULL DEFAULT 0,
      failure_count  BIGINT NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX tls_report_policies_key ON tls_report_policies (day, policy_domain, policy_type, policy_strings, mx_hosts);
    CREATE TABLE tls_report_failures (
      policy_id             BIGINT NOT NULL REFERENCES tls_report_policies (id) ON DELETE CASCADE,
      result_type           TEXT NOT NULL,
      receiving_mx_hostname TEXT NOT NULL,
      receiving_ip          TEXT NOT NULL,
      receiving_mx_helo     TEXT NOT NULL,
      failure_reason_code   TEXT NOT NULL,
      count                 BIGINT NOT NULL,
      PRIMARY KEY (policy_id, result_type, receiving_mx_hostname, receiving_ip, receiving_mx_helo, failure_reason_code)
    );
    CREATE TABLE tls_report_sent (
      day           TEXT NOT NULL,
      policy_domain TEXT NOT NULL,
      destination   TEXT NOT NULL,
      state         TEXT NOT NULL,
      report_id     TEXT,
      detail        TEXT,
      at            BIGINT NOT NULL,
      PRIMARY KEY (day, policy_domain, destination)
    );
  `,
};
