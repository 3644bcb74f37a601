import type { PgMigration } from './types.js';

/**
 * The webhook cursor reads settled events in (transaction, id) order (postgres/events.ts,
 * settledAfter): a younger transaction can hold a lower event id than an older one already
 * delivered. This index makes each poll a range read after the cursor's position instead of a
 * scan and sort of the whole events table.
 */
export const pgMigration006: PgMigration = {
  version: 6,
  name: 'events-order',
  up: `
    CREATE INDEX events_txid_id ON events (txid, id);
  `,
};
