import type { Migration } from './types.js';

export const migration002: Migration = {
  version: 2,
  name: 'delivery',
  up: `
    -- Which node holds a claimed recipient; a restarted node releases only its own leases.
    ALTER TABLE recipients ADD COLUMN lease_owner TEXT;
    -- Signed once, before the first delivery; the signature lives in messages.headers.
    ALTER TABLE messages ADD COLUMN signed_at INTEGER;

    CREATE TABLE attempts (
      id            INTEGER PRIMARY KEY,
      recipient_id  INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
      message_id    TEXT NOT NULL,
      at            INTEGER NOT NULL,
      duration_ms   INTEGER,
      result        TEXT NOT NULL,      -- delivered | deferred | bounced | expired
      phase         TEXT,               -- route | connect | mail | rcpt | data | message
      mx_host       TEXT,
      ip            TEXT,
      port          INTEGER,
      tls_protocol  TEXT,
      tls_cipher    TEXT,
      code          INTEGER,
      enhanced      TEXT,
      reply         TEXT,
      error_kind    TEXT,
      error         TEXT,
      category      TEXT,
      rule          TEXT,               -- the classifier rule that decided
      hops          TEXT                -- JSON: every MX host/address tried to open the session
    );
    CREATE INDEX attempts_recipient ON attempts (recipient_id);
    CREATE INDEX attempts_message ON attempts (message_id);
    CREATE INDEX attempts_at ON attempts (at);
  `,
};
