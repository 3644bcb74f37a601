import type { PgMigration } from './types.js';

/**
 * Columns the SQLite schema gained since this engine was written (SQLite migrations 017 and
 * 019): an attempt's outbound TLS verdict, and a message's REQUIRETLS (RFC 8689).
 */
export const pgMigration003: PgMigration = {
  version: 3,
  name: 'fate-columns',
  up: `
    ALTER TABLE attempts ADD COLUMN tls_verified BOOLEAN;
    ALTER TABLE attempts ADD COLUMN tls_policy TEXT;
    ALTER TABLE attempts ADD COLUMN tls_result TEXT;
    ALTER TABLE messages ADD COLUMN require_tls BOOLEAN NOT NULL DEFAULT false;
  `,
};
