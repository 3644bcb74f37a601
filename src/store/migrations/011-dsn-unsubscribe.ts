import type { Migration } from './types.js';

/**
 * RFC 3461 DSN parameters and one-click unsubscribe (RFC 8058).
 *
 * - messages: RET and ENVID as the client gave them (null: not given), and whether Ferry adds
 *   its own List-Unsubscribe per recipient (the X-Ferry-Unsubscribe header or the user's setting);
 * - recipients: NOTIFY (comma list, upper case; null: not given) and ORCPT ("type;address"),
 *   and when a delay DSN was queued for the recipient (at most one);
 * - users: the per-user one-click unsubscribe setting;
 * - suppressions: source 'one-click'. SQLite cannot alter a CHECK constraint, so the table is
 *   rebuilt with the same columns, ids and indexes.
 */
export const migration011: Migration = {
  version: 11,
  name: 'dsn-unsubscribe',
  up: `
    ALTER TABLE messages ADD COLUMN dsn_ret TEXT;
    ALTER TABLE messages ADD COLUMN dsn_envid TEXT;
    ALTER TABLE messages ADD COLUMN list_unsubscribe INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE recipients ADD COLUMN dsn_notify TEXT;
    ALTER TABLE recipients ADD COLUMN dsn_orcpt TEXT;
    ALTER TABLE recipients ADD COLUMN dsn_delay_at INTEGER;
    ALTER TABLE users ADD COLUMN one_click_unsubscribe INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE suppressions_new (
      id          INTEGER PRIMARY KEY,
      address     TEXT NOT NULL,
      domain      TEXT NOT NULL,
      category    TEXT NOT NULL,
      reason      TEXT NOT NULL DEFAULT '',
      source      TEXT NOT NULL CHECK (source IN ('bounce','complaint','manual','import','one-click')),
      scope       TEXT NOT NULL DEFAULT '',
      created_at  INTEGER NOT NULL,
      expires_at  INTEGER,
      hits        INTEGER NOT NULL DEFAULT 0,
      last_hit_at INTEGER
    );
    INSERT INTO suppressions_new (id, address, domain, category, reason, source, scope, created_at, expires_at, hits, last_hit_at)
      SELECT id, address, domain, category, reason, source, scope, created_at, expires_at, hits, last_hit_at FROM suppressions;
    DROP TABLE suppressions;
    ALTER TABLE suppressions_new RENAME TO suppressions;
    CREATE UNIQUE INDEX suppressions_address_scope ON suppressions (address, scope);
    CREATE INDEX suppressions_domain ON suppressions (domain);
    CREATE INDEX suppressions_created ON suppressions (created_at);
  `,
};
