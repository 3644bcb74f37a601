import type { PgMigration } from './types.js';

/**
 * The SQLite schema's final state (src/store/migrations 001–014), translated: identity ids,
 * bigint times (ms since the epoch), boolean flags, lower() expression indexes where SQLite used
 * COLLATE NOCASE, plpgsql triggers for the hourly rollups. What differs on purpose:
 *
 * - bodies live in `message_chunks` (bytea, ≤ 256 KB each, streamed in and out), not in
 *   messages.body or a node's spool file: every node must read every body. messages.body_bytes
 *   is the body's length, has_body whether its chunks are still held (retention clears it).
 * - `nodes`: one row per Ferry node (heartbeat, version) for leases and `ferry nodes`.
 * - `rate_slots`: the cluster's rate budgets, counted per slot of 1/60 window like the in-memory
 *   SlidingWindow, taken atomically by ferry_take_budget() (002).
 */
export const pgMigration001: PgMigration = {
  version: 1,
  name: 'schema',
  up: `
    CREATE TABLE messages (
      id              TEXT PRIMARY KEY,
      created_at      BIGINT NOT NULL,
      sender          TEXT NOT NULL,
      username        TEXT,
      client_ip       TEXT,
      helo            TEXT,
      tls             TEXT,
      size            BIGINT NOT NULL,
      headers         BYTEA NOT NULL,
      body_bytes      BIGINT NOT NULL DEFAULT 0,
      has_body        BOOLEAN NOT NULL DEFAULT false,
      header_from     TEXT,
      message_id_hdr  TEXT,
      subject         TEXT,
      eight_bit       BOOLEAN NOT NULL DEFAULT false,
      smtputf8        BOOLEAN NOT NULL DEFAULT false,
      kind            TEXT NOT NULL DEFAULT 'submission',
      signed_at       BIGINT,
      body_removed_at BIGINT,
      body_lost_at    BIGINT,
      dsn_ret         TEXT,
      dsn_envid       TEXT,
      list_unsubscribe BOOLEAN NOT NULL DEFAULT false,
      accepted_by     TEXT
    );
    CREATE INDEX messages_created ON messages (created_at);
    CREATE INDEX messages_with_body ON messages (created_at, id) WHERE has_body;
    CREATE INDEX messages_sender ON messages (lower(sender), created_at);
    CREATE INDEX messages_msgid_hdr ON messages (message_id_hdr);

    CREATE TABLE message_chunks (
      message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
      seq         INTEGER NOT NULL,
      data        BYTEA NOT NULL,
      PRIMARY KEY (message_id, seq)
    );
    -- Chunks are written once and read sequentially: no compression attempt on already-dense mail.
    ALTER TABLE message_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

    CREATE TABLE recipients (
      id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
      address         TEXT NOT NULL,
      domain          TEXT NOT NULL,
      status          TEXT NOT NULL CHECK (status IN ('queued','deferred','delivered','bounced','dropped','expired')),
      attempts        INTEGER NOT NULL DEFAULT 0,
      next_attempt_at BIGINT,
      lease_until     BIGINT,
      lease_owner     TEXT,
      created_at      BIGINT NOT NULL,
      updated_at      BIGINT NOT NULL,
      last_code       INTEGER,
      last_enhanced   TEXT,
      last_reply      TEXT,
      category        TEXT,
      mx_host         TEXT,
      remote_ip       TEXT,
      tls_protocol    TEXT,
      tls_cipher      TEXT,
      dsn_notify      TEXT,
      dsn_orcpt       TEXT,
      dsn_delay_at    BIGINT,
      complained_at   BIGINT,
      wait_reason     TEXT
    );
    CREATE INDEX recipients_message ON recipients (message_id);
    CREATE INDEX recipients_due ON recipients (next_attempt_at) WHERE status IN ('queued','deferred');
    CREATE INDEX recipients_status_domain ON recipients (status, domain);
    CREATE INDEX recipients_address ON recipients (address);
    CREATE INDEX recipients_pending_age ON recipients (status, created_at) WHERE status IN ('queued','deferred');
    CREATE INDEX recipients_pending_dest ON recipients (domain, updated_at, status, created_at, lease_until, next_attempt_at)
      WHERE status IN ('queued','deferred');
    CREATE INDEX recipients_lease_owner ON recipients (lease_owner) WHERE lease_owner IS NOT NULL;
    -- Expired leases are claimed first: this index is as small as the mail in flight.
    CREATE INDEX recipients_leased ON recipients (lease_until) WHERE lease_owner IS NOT NULL;

    CREATE TABLE events (
      id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at            BIGINT NOT NULL,
      message_id    TEXT NOT NULL,
      recipient_id  BIGINT,
      recipient     TEXT,
      type          TEXT NOT NULL,
      status        TEXT,
      category      TEXT,
      detail        TEXT,
      -- The inserting transaction: the webhook sender reads only events whose transaction is
      -- older than every one still running, so an event committed late under a lower id is
      -- never skipped by a cursor that already moved past it.
      txid          XID8 NOT NULL DEFAULT pg_current_xact_id()
    );
    CREATE INDEX events_message ON events (message_id);
    CREATE INDEX events_at ON events (at);
    CREATE INDEX events_dropped_recipient ON events (lower(recipient)) WHERE type = 'dropped';

    CREATE TABLE users (
      name          TEXT PRIMARY KEY,
      password_hash TEXT NOT NULL,
      from_domains  TEXT NOT NULL DEFAULT '[]',
      created_at    BIGINT NOT NULL,
      updated_at    BIGINT NOT NULL,
      one_click_unsubscribe BOOLEAN NOT NULL DEFAULT false
    );

    CREATE TABLE attempts (
      id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      recipient_id  BIGINT NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
      message_id    TEXT NOT NULL,
      at            BIGINT NOT NULL,
      duration_ms   INTEGER,
      result        TEXT NOT NULL,
      phase         TEXT,
      mx_host       TEXT,
      ip            TEXT,
      port          INTEGER,
      tls_protocol  TEXT,
      tls_cipher    TEXT,
      code          INTEGER,
      enhanced      TEXT,
      reply         TEXT,
      rcpt_reply    TEXT,
      error_kind    TEXT,
      error         TEXT,
      category      TEXT,
      rule          TEXT,
      hops          TEXT
    );
    CREATE INDEX attempts_recipient ON attempts (recipient_id);
    CREATE INDEX attempts_message ON attempts (message_id);
    CREATE INDEX attempts_at ON attempts (at);

    CREATE TABLE dkim_keys (
      domain      TEXT NOT NULL,
      selector    TEXT NOT NULL,
      algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa','ed25519')),
      key_file    TEXT NOT NULL,
      public_key  TEXT NOT NULL,
      created_at  BIGINT NOT NULL,
      PRIMARY KEY (domain, selector)
    );

    CREATE TABLE suppressions (
      id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      address     TEXT NOT NULL,
      domain      TEXT NOT NULL,
      category    TEXT NOT NULL,
      reason      TEXT NOT NULL DEFAULT '',
      source      TEXT NOT NULL CHECK (source IN ('bounce','complaint','manual','import','one-click')),
      scope       TEXT NOT NULL DEFAULT '',
      created_at  BIGINT NOT NULL,
      expires_at  BIGINT,
      hits        INTEGER NOT NULL DEFAULT 0,
      last_hit_at BIGINT
    );
    CREATE UNIQUE INDEX suppressions_address_scope ON suppressions (address, scope);
    CREATE INDEX suppressions_domain ON suppressions (domain);
    CREATE INDEX suppressions_created ON suppressions (created_at);

    CREATE TABLE limits (
      target          TEXT PRIMARY KEY,
      per_minute      INTEGER CHECK (per_minute IS NULL OR per_minute > 0),
      per_hour        INTEGER CHECK (per_hour IS NULL OR per_hour > 0),
      per_day         INTEGER CHECK (per_day IS NULL OR per_day > 0),
      connections     INTEGER CHECK (connections IS NULL OR connections > 0),
      per_connection  INTEGER CHECK (per_connection IS NULL OR per_connection > 0),
      created_at      BIGINT NOT NULL,
      updated_at      BIGINT NOT NULL
    );

    CREATE TABLE limit_state (
      bucket              TEXT PRIMARY KEY,
      target              TEXT NOT NULL,
      windows             TEXT NOT NULL DEFAULT '{}',
      connections         INTEGER NOT NULL DEFAULT 0,
      slow_per_minute     INTEGER,
      slow_restore_to     INTEGER,
      slow_since          BIGINT,
      slow_until          BIGINT,
      slow_next_step_at   BIGINT,
      slow_last_halved_at BIGINT,
      slow_reason         TEXT,
      updated_at          BIGINT NOT NULL
    );

    CREATE TABLE user_quotas (
      username                TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
      max_messages_per_hour   INTEGER CHECK (max_messages_per_hour IS NULL OR max_messages_per_hour > 0),
      max_recipients_per_day  INTEGER CHECK (max_recipients_per_day IS NULL OR max_recipients_per_day > 0),
      updated_at              BIGINT NOT NULL
    );

    CREATE TABLE quota_state (
      username    TEXT PRIMARY KEY,
      windows     TEXT NOT NULL DEFAULT '{}',
      updated_at  BIGINT NOT NULL
    );

    CREATE TABLE webhook_cursors (
      url             TEXT PRIMARY KEY,
      last_event_id   BIGINT NOT NULL,
      created_at      BIGINT NOT NULL,
      updated_at      BIGINT NOT NULL,
      failures        INTEGER NOT NULL DEFAULT 0,
      last_error      TEXT,
      last_attempt_at BIGINT,
      lease_owner     TEXT,
      lease_until     BIGINT
    );

    CREATE TABLE dsn_outbox (
      id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      message_id  TEXT NOT NULL,
      recipients  TEXT NOT NULL,
      created_at  BIGINT NOT NULL
    );

    CREATE TABLE admins (
      name          TEXT PRIMARY KEY,
      password_hash TEXT NOT NULL,
      role          TEXT NOT NULL CHECK (role IN ('admin','support')),
      created_at    BIGINT NOT NULL,
      updated_at    BIGINT NOT NULL
    );

    CREATE TABLE stats_hourly (
      domain      TEXT NOT NULL,
      hour        BIGINT NOT NULL,
      delivered   INTEGER NOT NULL DEFAULT 0,
      deferred    INTEGER NOT NULL DEFAULT 0,
      bounced     INTEGER NOT NULL DEFAULT 0,
      dropped     INTEGER NOT NULL DEFAULT 0,
      expired     INTEGER NOT NULL DEFAULT 0,
      complained  INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (domain, hour)
    );
    CREATE INDEX stats_hourly_hour ON stats_hourly (hour, domain) INCLUDE (delivered, deferred, bounced, dropped, expired, complained);

    CREATE TABLE stats_categories_hourly (
      hour      BIGINT NOT NULL,
      category  TEXT NOT NULL,
      n         INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (hour, category)
    );

    CREATE FUNCTION ferry_events_stats() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      h BIGINT := NEW.at / 3600000;
      d TEXT := lower(substr(NEW.recipient, strpos(NEW.recipient, '@') + 1));
    BEGIN
      IF NEW.recipient IS NULL THEN RETURN NULL; END IF;
      IF NEW.type IN ('delivered','deferred','bounced','dropped','expired','complaint') THEN
        INSERT INTO stats_hourly AS s (domain, hour, delivered, deferred, bounced, dropped, expired, complained)
        SELECT x, h, (NEW.type = 'delivered')::int, (NEW.type = 'deferred')::int, (NEW.type = 'bounced')::int,
               (NEW.type = 'dropped')::int, (NEW.type = 'expired')::int, (NEW.type = 'complaint')::int
        FROM unnest(ARRAY[d, '*']) AS x
        ON CONFLICT (domain, hour) DO UPDATE SET
          delivered = s.delivered + excluded.delivered, deferred = s.deferred + excluded.deferred,
          bounced = s.bounced + excluded.bounced, dropped = s.dropped + excluded.dropped,
          expired = s.expired + excluded.expired, complained = s.complained + excluded.complained;
      END IF;
      IF NEW.type IN ('bounced','dropped','expired') THEN
        INSERT INTO stats_categories_hourly AS c (hour, category, n) VALUES (h, coalesce(NEW.category, 'other'), 1)
        ON CONFLICT (hour, category) DO UPDATE SET n = c.n + 1;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER events_stats AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION ferry_events_stats();

    CREATE TABLE nodes (
      name          TEXT PRIMARY KEY,
      version       TEXT NOT NULL,
      pid           INTEGER,
      started_at    BIGINT NOT NULL,
      heartbeat_at  BIGINT NOT NULL,
      stopped_at    BIGINT
    );

    CREATE TABLE rate_slots (
      bucket  TEXT NOT NULL,
      win     SMALLINT NOT NULL,      -- 0 minute, 1 hour, 2 day
      slot    BIGINT NOT NULL,        -- time / (window / 60)
      n       INTEGER NOT NULL,
      PRIMARY KEY (bucket, win, slot)
    );
    CREATE TABLE rate_buckets (
      bucket      TEXT PRIMARY KEY,
      updated_at  BIGINT NOT NULL
    );
  `,
};
