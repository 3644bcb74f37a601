import type { Migration } from './types.js';

/**
 * Delivery status notifications that are due but not yet queued. A row is written in the same
 * transaction that ends the recipients it reports (an outcome, an asynchronous bounce, an
 * expiry at start-up, an intake drop), and deleted in the transaction that queues the DSN, so a
 * crash between the two loses no report and queues none twice.
 */
export const migration008: Migration = {
  version: 8,
  name: 'dsn-outbox',
  up: `
    CREATE TABLE dsn_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      message_id TEXT NOT NULL,
      recipients TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );
  `,
};
