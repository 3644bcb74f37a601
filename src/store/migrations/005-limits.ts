import type { Migration } from './types.js';

/**
 * Per-destination limits and their live state, and per-user intake quotas.
 *
 * `limits.target` is 'default', a recipient domain ('gmail.com') or an MX host suffix
 * ('mx:google.com'). A NULL column means "not set here": the field falls back to the 'default'
 * row, then to the built-in default.
 *
 * `limit_state` is one row per budget: the target's name for a domain or MX rule, the domain
 * itself for domains under 'default' (each domain gets its own default budget). `windows` is
 * JSON: per window (minute/hour/day) the sends counted per slot (1/60 of the window), so a
 * restart does not reset a day's budget. The slow_* columns are the adaptive slow-down, and
 * `connections` the open connections as of the last save: both for `ferry limits list`.
 *
 * `user_quotas` holds intake quotas per SMTP user (deleted with the user); `quota_state` the
 * counted usage, same JSON shape as limit_state.windows.
 */
export const migration005: Migration = {
  version: 5,
  name: 'limits',
  up: `
    CREATE TABLE limits (
      target          TEXT PRIMARY KEY,
      per_minute      INTEGER CHECK (per_minute IS NULL OR per_minute > 0),
      per_hour        INTEGER CHECK (per_hour IS NULL OR per_hour > 0),
      per_day         INTEGER CHECK (per_day IS NULL OR per_day > 0),
      connections     INTEGER CHECK (connections IS NULL OR connections > 0),
      per_connection  INTEGER CHECK (per_connection IS NULL OR per_connection > 0),
      created_at      INTEGER NOT NULL,
      updated_at      INTEGER NOT NULL
    );

    CREATE TABLE limit_state (
      bucket              TEXT PRIMARY KEY,
      target              TEXT NOT NULL,
      windows             TEXT NOT NULL DEFAULT '{}',
      connections         INTEGER NOT NULL DEFAULT 0,
      slow_per_minute     INTEGER,
      slow_restore_to     INTEGER,
      slow_since          INTEGER,
      slow_until          INTEGER,
      slow_next_step_at   INTEGER,
      slow_last_halved_at INTEGER,
      slow_reason         TEXT,
      updated_at          INTEGER NOT NULL
    );

    CREATE TABLE user_quotas (
      username                TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
      max_messages_per_hour   INTEGER CHECK (max_messages_per_hour IS NULL OR max_messages_per_hour > 0),
      max_recipients_per_day  INTEGER CHECK (max_recipients_per_day IS NULL OR max_recipients_per_day > 0),
      updated_at              INTEGER NOT NULL
    );

    CREATE TABLE quota_state (
      username    TEXT PRIMARY KEY,
      windows     TEXT NOT NULL DEFAULT '{}',
      updated_at  INTEGER NOT NULL
    );
  `,
};
