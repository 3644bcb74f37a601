import type { Migration } from './types.js';

/**
 * Retention (src/ops/retention.ts). A finished message's body is deleted (body and spool_file
 * set to NULL, body_removed_at set) and, after retention.days, its whole record. body_lost_at
 * marks a body found missing by recovery or delivery: reported once, then no longer referenced.
 *
 * messages_with_body is as small as the set of bodies still held (the queue plus any kept by
 * keepBodiesHours), so the sweep for bodies to delete never walks the history.
 */
export const migration010: Migration = {
  version: 10,
  name: 'retention',
  up: `
    ALTER TABLE messages ADD COLUMN body_removed_at INTEGER;
    ALTER TABLE messages ADD COLUMN body_lost_at INTEGER;
    CREATE INDEX messages_with_body ON messages (created_at, id) WHERE body IS NOT NULL OR spool_file IS NOT NULL;
  `,
};
