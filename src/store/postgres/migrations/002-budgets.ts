import type { PgMigration } from './types.js';

/**
 * Cluster-wide rate budgets and connection slots, each taken in ONE statement.
 *
 * ferry_take_budget(bucket, now, want, limits[minute, hour, day]) grants up to `want` sends under
 * every limit given (null: no limit for that window) and counts them, with the same sliding
 * windows as src/throttle/window.ts (slots of 1/60 window; a slot's tokens return one window
 * after the slot ends). It locks the bucket's row first; a plpgsql function takes a new snapshot
 * for each statement under READ COMMITTED, so the sum it reads after the lock includes every
 * take committed by the node that held the lock before: two nodes can never both spend the same
 * tokens.
 *
 * ferry_take_connection(bucket, owner, token, limit, now, until) holds one of a destination's
 * `limit` connection slots for the cluster until `until` (renewed while the connection lives;
 * a dead node's slots expire); ferry_release_connection frees it.
 */
export const pgMigration002: PgMigration = {
  version: 2,
  name: 'budgets',
  up: `
    CREATE FUNCTION ferry_take_budget(p_bucket TEXT, p_now BIGINT, p_want INTEGER, p_limits INTEGER[]) RETURNS INTEGER
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      periods BIGINT[] := ARRAY[60000, 3600000, 86400000];
      granted INTEGER := greatest(p_want, 0);
      used BIGINT;
      slot_ms BIGINT;
      i INTEGER;
    BEGIN
      INSERT INTO rate_buckets AS b (bucket, updated_at) VALUES (p_bucket, p_now)
        ON CONFLICT (bucket) DO UPDATE SET updated_at = greatest(b.updated_at, excluded.updated_at);
      FOR i IN 1..3 LOOP
        IF p_limits[i] IS NOT NULL THEN
          slot_ms := periods[i] / 60;
          SELECT coalesce(sum(n), 0) INTO used FROM rate_slots
            WHERE bucket = p_bucket AND win = i - 1 AND (slot + 1) * slot_ms + periods[i] > p_now;
          granted := least(granted, greatest(0, p_limits[i] - used)::INTEGER);
        END IF;
      END LOOP;
      IF granted > 0 THEN
        FOR i IN 1..3 LOOP
          slot_ms := periods[i] / 60;
          INSERT INTO rate_slots AS r (bucket, win, slot, n) VALUES (p_bucket, i - 1, p_now / slot_ms, granted)
            ON CONFLICT (bucket, win, slot) DO UPDATE SET n = r.n + excluded.n;
          DELETE FROM rate_slots WHERE bucket = p_bucket AND win = i - 1 AND (slot + 1) * slot_ms + periods[i] <= p_now;
        END LOOP;
      END IF;
      RETURN granted;
    END $$;

    CREATE TABLE connection_slots (
      bucket  TEXT NOT NULL,
      token   TEXT NOT NULL,
      owner   TEXT NOT NULL,
      until   BIGINT NOT NULL,
      PRIMARY KEY (bucket, token)
    );

    CREATE FUNCTION ferry_take_connection(p_bucket TEXT, p_owner TEXT, p_token TEXT, p_limit INTEGER, p_now BIGINT, p_until BIGINT)
    RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      live INTEGER;
    BEGIN
      INSERT INTO rate_buckets AS b (bucket, updated_at) VALUES (p_bucket, p_now)
        ON CONFLICT (bucket) DO UPDATE SET updated_at = greatest(b.updated_at, excluded.updated_at);
      DELETE FROM connection_slots WHERE bucket = p_bucket AND until <= p_now;
      SELECT count(*) INTO live FROM connection_slots WHERE bucket = p_bucket;
      IF live >= p_limit THEN RETURN false; END IF;
      INSERT INTO connection_slots (bucket, token, owner, until) VALUES (p_bucket, p_token, p_owner, p_until)
        ON CONFLICT (bucket, token) DO UPDATE SET until = excluded.until;
      RETURN true;
    END $$;
  `,
};
