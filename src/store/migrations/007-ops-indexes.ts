import type { Migration } from './types.js';

/**
 * For metrics scrapes and `ferry stats`/`status`: the waiting recipients by status and age, in a
 * partial index as small as the queue (not the history). Queue depth is a count over it, the
 * oldest waiting recipient one seek per status; without it both walked every waiting row and
 * sorted them (1.4 s at 130k waiting recipients, on every scrape).
 */
export const migration007: Migration = {
  version: 7,
  name: 'ops-indexes',
  up: `
    CREATE INDEX recipients_pending_age ON recipients (status, created_at) WHERE status IN ('queued','deferred');
  `,
};
