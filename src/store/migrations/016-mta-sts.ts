import type { Migration } from './types.js';

/**
 * Ferry's own MTA-STS policy cache (RFC 8461 §5), one row per recipient domain (never per MX
 * group). A row is kept until its max_age runs out even when the domain's TXT record disappears:
 * that is what refuses a downgrade by an attacker who can strip DNS records.
 */
export const migration016: Migration = {
  version: 16,
  name: 'mta-sts',
  up: `
    CREATE TABLE mta_sts_policies (
      domain TEXT PRIMARY KEY,
      policy_id TEXT NOT NULL,
      mode TEXT NOT NULL,
      mx TEXT NOT NULL,
      max_age_seconds INTEGER NOT NULL,
      text TEXT NOT NULL,
      fetched_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
  `,
};
