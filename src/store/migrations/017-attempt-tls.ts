import type { Migration } from './types.js';

/**
 * The TLS outcome of each delivery attempt beside its protocol and cipher: whether the
 * certificate was verified (for the MX name, or against TLSA), which policy governed the session
 * (none, sts-testing, sts-enforce, dane), and its RFC 8460 result (success, a failure type).
 */
export const migration017: Migration = {
  version: 17,
  name: 'attempt-tls',
  up: `
    ALTER TABLE attempts ADD COLUMN tls_verified INTEGER;
    ALTER TABLE attempts ADD COLUMN tls_policy TEXT;
    ALTER TABLE attempts ADD COLUMN tls_result TEXT;
  `,
};
