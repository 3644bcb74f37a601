import type { Migration } from './types.js';

/**
 * The suppression list. `address` is the normalized key: the whole address lower-cased with the
 * domain in punycode, or `@domain` for a whole-domain entry. `scope` is '' for a global entry
 * (SQLite treats NULLs as distinct in a UNIQUE index, so global is stored as '' and the
 * repository maps it to null), else the SMTP user the entry applies to.
 *
 * A lookup probes suppressions_address_scope with at most four keys (address and @domain, global
 * and the user's scope). events_dropped_recipient serves `ferry suppressions show`: which
 * messages an entry dropped (partial: only 'dropped' events, a small part of the log).
 */
export const migration004: Migration = {
  version: 4,
  name: 'suppressions',
  up: `
    CREATE TABLE suppressions (
      id          INTEGER PRIMARY KEY,
      address     TEXT NOT NULL,
      domain      TEXT NOT NULL,
      category    TEXT NOT NULL,
      reason      TEXT NOT NULL DEFAULT '',
      source      TEXT NOT NULL CHECK (source IN ('bounce','complaint','manual','import')),
      scope       TEXT NOT NULL DEFAULT '',
      created_at  INTEGER NOT NULL,
      expires_at  INTEGER,
      hits        INTEGER NOT NULL DEFAULT 0,
      last_hit_at INTEGER
    );
    CREATE UNIQUE INDEX suppressions_address_scope ON suppressions (address, scope);
    CREATE INDEX suppressions_domain ON suppressions (domain);
    CREATE INDEX suppressions_created ON suppressions (created_at);
    CREATE INDEX events_dropped_recipient ON events (recipient COLLATE NOCASE) WHERE type = 'dropped';
  `,
};
