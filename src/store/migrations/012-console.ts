import type { Migration } from './types.js';

/**
 * The web console (issue 17).
 *
 * `admins`: console accounts, apart from SMTP users (an SMTP password must never open the
 * console, and a support person needs no relay credentials). scrypt hashes as for SMTP users.
 *
 * `recipients.complained_at`: a complaint (ARF) makes the recipient's state "spam" while its
 * status stays what delivery made it (delivered): the status machine has no move out of a final
 * status, and a complaint is a fact about the recipient, not a delivery outcome.
 *
 * recipients_pending_dest: the queue page's summary per destination without touching the table.
 *
 * Search indexes: by envelope sender (case-insensitive, newest first) and by Message-ID header.
 * A recipient address is found through recipients_address (001).
 *
 * `stats_hourly`: counts per hour and destination domain, kept by a trigger on the event log so
 * the dashboard reads at most 720 rows per series instead of grouping millions of events. The
 * row with domain '*' is the total over all domains. `stats_categories_hourly` likewise counts
 * the categories of bounced, dropped and expired recipients. Both backfilled from the last 31
 * days of events.
 */
export const migration012: Migration = {
  version: 12,
  name: 'console',
  up: `
    CREATE TABLE admins (
      name          TEXT PRIMARY KEY,
      password_hash TEXT NOT NULL,
      role          TEXT NOT NULL CHECK (role IN ('admin','support')),
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL
    );

    ALTER TABLE recipients ADD COLUMN complained_at INTEGER;

    -- The queue page: waiting recipients per destination, counted from the index alone (partial:
    -- as small as the queue), and each destination's latest reply found by walking it backwards.
    CREATE INDEX recipients_pending_dest ON recipients (domain, updated_at, status, created_at, lease_until, next_attempt_at)
      WHERE status IN ('queued','deferred');
    CREATE INDEX messages_sender ON messages (sender COLLATE NOCASE, created_at);
    CREATE INDEX messages_msgid_hdr ON messages (message_id_hdr);

    CREATE TABLE stats_hourly (
      domain      TEXT NOT NULL,
      hour        INTEGER NOT NULL,       -- ms since the epoch / 3600000
      delivered   INTEGER NOT NULL DEFAULT 0,
      deferred    INTEGER NOT NULL DEFAULT 0,
      bounced     INTEGER NOT NULL DEFAULT 0,
      dropped     INTEGER NOT NULL DEFAULT 0,
      expired     INTEGER NOT NULL DEFAULT 0,
      complained  INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (domain, hour)
    ) WITHOUT ROWID;
    -- Covering: "the busiest domains of the last 24 hours" reads one index range, no row lookups.
    CREATE INDEX stats_hourly_hour ON stats_hourly (hour, domain, delivered, deferred, bounced, dropped, expired, complained);

    CREATE TRIGGER events_stats_hourly AFTER INSERT ON events
    WHEN NEW.type IN ('delivered','deferred','bounced','dropped','expired','complaint') AND NEW.recipient IS NOT NULL
    BEGIN
      INSERT INTO stats_hourly (domain, hour, delivered, deferred, bounced, dropped, expired, complained)
      VALUES
        (lower(substr(NEW.recipient, instr(NEW.recipient, '@') + 1)), NEW.at / 3600000,
         NEW.type = 'delivered', NEW.type = 'deferred', NEW.type = 'bounced', NEW.type = 'dropped', NEW.type = 'expired', NEW.type = 'complaint'),
        ('*', NEW.at / 3600000,
         NEW.type = 'delivered', NEW.type = 'deferred', NEW.type = 'bounced', NEW.type = 'dropped', NEW.type = 'expired', NEW.type = 'complaint')
      ON CONFLICT (domain, hour) DO UPDATE SET
        delivered = delivered + excluded.delivered, deferred = deferred + excluded.deferred,
        bounced = bounced + excluded.bounced, dropped = dropped + excluded.dropped,
        expired = expired + excluded.expired, complained = complained + excluded.complained;
    END;

    CREATE TABLE stats_categories_hourly (
      hour      INTEGER NOT NULL,
      category  TEXT NOT NULL,
      n         INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (hour, category)
    ) WITHOUT ROWID;

    CREATE TRIGGER events_stats_categories AFTER INSERT ON events
    WHEN NEW.type IN ('bounced','dropped','expired') AND NEW.recipient IS NOT NULL
    BEGIN
      INSERT INTO stats_categories_hourly (hour, category, n) VALUES (NEW.at / 3600000, coalesce(NEW.category, 'other'), 1)
      ON CONFLICT (hour, category) DO UPDATE SET n = n + 1;
    END;

    INSERT INTO stats_categories_hourly (hour, category, n)
    SELECT at / 3600000, coalesce(category, 'other'), COUNT(*) FROM events
    WHERE at >= (SELECT coalesce(max(at), 0) FROM events) - 31 * 86400000
      AND type IN ('bounced','dropped','expired') AND recipient IS NOT NULL
    GROUP BY 1, 2;

    INSERT INTO stats_hourly (domain, hour, delivered, deferred, bounced, dropped, expired, complained)
    SELECT d, h, SUM(type = 'delivered'), SUM(type = 'deferred'), SUM(type = 'bounced'), SUM(type = 'dropped'), SUM(type = 'expired'), SUM(type = 'complaint')
    FROM (
      SELECT lower(substr(recipient, instr(recipient, '@') + 1)) AS d, at / 3600000 AS h, type FROM events
      WHERE at >= (SELECT coalesce(max(at), 0) FROM events) - 31 * 86400000
        AND type IN ('delivered','deferred','bounced','dropped','expired','complaint') AND recipient IS NOT NULL
      UNION ALL
      SELECT '*', at / 3600000, type FROM events
      WHERE at >= (SELECT coalesce(max(at), 0) FROM events) - 31 * 86400000
        AND type IN ('delivered','deferred','bounced','dropped','expired','complaint') AND recipient IS NOT NULL
    )
    GROUP BY d, h;
  `,
};
