import type { Migration } from './types.js';

export const migration001: Migration = {
  version: 1,
  name: 'queue',
  up: `
    CREATE TABLE messages (
      id            TEXT PRIMARY KEY,
      created_at    INTEGER NOT NULL,
      sender        TEXT NOT NULL,          -- envelope MAIL FROM ('' for a null sender)
      username      TEXT,                   -- the authenticated SMTP user, if any
      client_ip     TEXT,
      helo          TEXT,
      tls           TEXT,                   -- inbound TLS protocol, null for clear text
      size          INTEGER NOT NULL,       -- header block + body, as it will be sent
      headers       BLOB NOT NULL,          -- the header block (Ferry's Received first), ending with the blank line
      body          BLOB,                   -- the body when small enough to live here
      spool_file    TEXT,                   -- else: the spool file holding the body
      header_from   TEXT,                   -- address in the From header
      message_id_hdr TEXT,                  -- the Message-ID header
      subject       TEXT,
      eight_bit     INTEGER NOT NULL DEFAULT 0,
      smtputf8      INTEGER NOT NULL DEFAULT 0,
      kind          TEXT NOT NULL DEFAULT 'submission'  -- 'submission' | 'dsn'
    );
    CREATE INDEX messages_created ON messages (created_at);

    CREATE TABLE recipients (
      id            INTEGER PRIMARY KEY,
      message_id    TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
      address       TEXT NOT NULL,
      domain        TEXT NOT NULL,
      status        TEXT NOT NULL CHECK (status IN ('queued','deferred','delivered','bounced','dropped','expired')),
      attempts      INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER,              -- due time while queued/deferred, null once final
      lease_until   INTEGER,                -- set while a worker holds it
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL,
      last_code     INTEGER,
      last_enhanced TEXT,
      last_reply    TEXT,
      category      TEXT,
      mx_host       TEXT,
      remote_ip     TEXT,
      tls_protocol  TEXT,
      tls_cipher    TEXT
    );
    CREATE INDEX recipients_message ON recipients (message_id);
    -- The scheduler's only question: what is due? Partial index keeps it small as history grows.
    CREATE INDEX recipients_due ON recipients (next_attempt_at) WHERE status IN ('queued','deferred');
    CREATE INDEX recipients_status_domain ON recipients (status, domain);
    CREATE INDEX recipients_address ON recipients (address);

    CREATE TABLE events (
      id            INTEGER PRIMARY KEY,
      at            INTEGER NOT NULL,
      message_id    TEXT NOT NULL,
      recipient_id  INTEGER,
      recipient     TEXT,
      type          TEXT NOT NULL,          -- accepted | queued | deferred | delivered | bounced | dropped | expired | ...
      status        TEXT,
      category      TEXT,
      detail        TEXT                    -- JSON
    );
    CREATE INDEX events_message ON events (message_id);
    CREATE INDEX events_at ON events (at);

    CREATE TABLE users (
      name          TEXT PRIMARY KEY,
      password_hash TEXT NOT NULL,
      from_domains  TEXT NOT NULL DEFAULT '[]',   -- JSON array; empty: any
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL
    );
  `,
};
