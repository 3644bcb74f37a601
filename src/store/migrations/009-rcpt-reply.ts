import type { Migration } from './types.js';

/**
 * Each attempt keeps the reply the recipient's own RCPT TO got. For a refused recipient it is the
 * attempt's reply; for an accepted one the attempt's reply is the one to the final dot (or the
 * error that ended the transaction), and this column keeps what the server said about the
 * recipient itself.
 */
export const migration009: Migration = {
  version: 9,
  name: 'rcpt-reply',
  up: `
    ALTER TABLE attempts ADD COLUMN rcpt_reply TEXT;
  `,
};
