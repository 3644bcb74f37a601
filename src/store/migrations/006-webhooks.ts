import type { Migration } from './types.js';

/**
 * The webhook outbox. The event log (`events`, append-only, ids increasing) is the outbox's
 * content; this table holds, per configured URL, the id of the last event the URL acknowledged
 * with a 2xx. The cursor only moves after a 2xx, so a crash or a failed POST resends the same
 * batch (at least once, in event-id order). A lease lets several nodes share the database while
 * only one of them sends to a URL at a time.
 */
export const migration006: Migration = {
  version: 6,
  name: 'webhooks',
  up: `
    CREATE TABLE webhook_cursors (
      url             TEXT PRIMARY KEY,
      last_event_id   INTEGER NOT NULL,       -- every event with id <= this was acknowledged
      created_at      INTEGER NOT NULL,
      updated_at      INTEGER NOT NULL,
      failures        INTEGER NOT NULL DEFAULT 0,  -- consecutive failed POSTs
      last_error      TEXT,
      last_attempt_at INTEGER,
      lease_owner     TEXT,
      lease_until     INTEGER
    );
  `,
};
