import type { Migration } from './types.js';

/**
 * Fewer index writes per message for the writer thread (issue 13). Every commit writes each page
 * it changed to the WAL (and a checkpoint copies it back): a B-tree touched by a transaction costs
 * at least one 4 KB page whatever it holds, so each index the per-message path touches is a page
 * per commit on top of its own insert. Measured with bench/writer-ops.mjs (WAL pages per message,
 * a count the machine's load cannot move): 14.8 → 12.6.
 *
 * - recipients_status_domain (status, domain), a full index: every status change moved its entry
 *   (history of every status and domain: a random leaf each time). Its readers are served by the
 *   partial pending indexes (recipients_pending_dest for a domain's waiting recipients,
 *   recipients_pending_age for all of them) and by messages_created → recipients_message for the
 *   window statistics, which also no longer read every bounced recipient of the history.
 * - stats_hourly_hour held every counter (covering): each event's upsert of the hour rows (the
 *   domain's and '*') moved two entries. Now (hour) alone, whose entries never change once the
 *   hour row exists; the dashboard's top-domains query reads the row for each entry instead.
 * - attempts_message: an attempt is found through its recipient (attempts_recipient, and the
 *   recipient's message through recipients_message), as the message's attempts were anyway.
 * - The triggers on events that kept the hourly rollups: the events repository counts them now,
 *   in the transaction that appends the event (events-repo.ts), the same counts. A trigger made
 *   every insert into the log call a sub-program, even when its WHEN clause was false (every
 *   accept's 'queued' event): ~6 µs of a ~10 µs insert.
 *
 * test/store/query-plans.test.ts pins which index each query uses.
 */
export const migration021: Migration = {
  version: 21,
  name: 'writer-indexes',
  up: `
    DROP INDEX recipients_status_domain;
    DROP INDEX stats_hourly_hour;
    CREATE INDEX stats_hourly_hour ON stats_hourly (hour);
    DROP INDEX attempts_message;
    DROP TRIGGER events_stats_hourly;
    DROP TRIGGER events_stats_categories;
  `,
};
