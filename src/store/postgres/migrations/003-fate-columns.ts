import type { PgMigration } from './types.js';

/**
 * Columns the SQLite schema gained since this engine was written (SQLite migrations 017 and
 * 019): an attempt's outbound TLS verdict, and a message's REQUIRETLS (RFC 8689).
 *
 * And the hourly rollup trigger takes its row locks in one order: the cluster row ('*') first,
 * then the domain's. A fate transaction writes events for several domains; with the domain row
 * first, two of them writing for d1 then d2 and for d2 then d1 deadlocked (bench/pg-store.mjs
 * found it). With '*' first, every rollup lock is taken while holding '*', so they cannot cross
 * — and '*' serializes every transaction that counts an outcome in the same hour, cluster-wide
 * (see bench/RESULTS.md: the limit a PostgreSQL cluster meets first).
 */
export const pgMigration003: PgMigration = {
  version: 3,
  name: 'fate-columns',
  up: `
    ALTER TABLE attempts ADD COLUMN tls_verified BOOLEAN;
    ALTER TABLE attempts ADD COLUMN tls_policy TEXT;
    ALTER TABLE attempts ADD COLUMN tls_result TEXT;
    ALTER TABLE messages ADD COLUMN require_tls BOOLEAN NOT NULL DEFAULT false;
    CREATE OR REPLACE FUNCTION ferry_events_stats() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      h BIGINT := NEW.at / 3600000;
      d TEXT := lower(substr(NEW.recipient, strpos(NEW.recipient, '@') + 1));
    BEGIN
      IF NEW.recipient IS NULL THEN RETURN NULL; END IF;
      IF NEW.type IN ('delivered','deferred','bounced','dropped','expired','complaint') THEN
        INSERT INTO stats_hourly AS s (domain, hour, delivered, deferred, bounced, dropped, expired, complained)
        SELECT x, h, (NEW.type = 'delivered')::int, (NEW.type = 'deferred')::int, (NEW.type = 'bounced')::int,
               (NEW.type = 'dropped')::int, (NEW.type = 'expired')::int, (NEW.type = 'complaint')::int
        FROM unnest(ARRAY['*', d]) AS x
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
  `,
};
