import type { PgMigration } from './types.js';

/**
 * Indexes for the web console's suppression list (postgres/console.ts), so that each page reads
 * one index range as on SQLite:
 *
 * - a domain's entries newest first (`domain = $1 AND id < $2 ORDER BY id DESC`): SQLite's
 *   index on (domain) ends with the rowid, the id; here the id is spelled out, or a page of a
 *   domain with a million entries would sort them all. It replaces the index on (domain) alone,
 *   which every other read by domain uses as well through its first column.
 * - an address prefix in byte order (`address COLLATE "C"` between the text and the text
 *   followed by U+FFFF, after the cursor's (address, scope)): the unique index on (address,
 *   scope) has the database's collation, which the planner cannot use for "C" comparisons; and
 *   in a database whose collation is a language's, a range in that collation is not a prefix.
 */
export const pgMigration005: PgMigration = {
  version: 5,
  name: 'console',
  up: `
    DROP INDEX suppressions_domain;
    CREATE INDEX suppressions_domain ON suppressions (domain, id);
    CREATE INDEX suppressions_address_bytes ON suppressions (address COLLATE "C", scope COLLATE "C");
  `,
};
