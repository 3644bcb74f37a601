/**
 * The web console's reads (src/http/console): the support search, the suppression list's pages,
 * the queue per destination, the dashboard's hourly rollups and the destinations slowed down.
 * They are a second concept beside the pipeline's store: read-only, shaped for pages, never on
 * the delivery path. Each engine answers them from one module (SQLite:
 * src/store/console-queries.ts; PostgreSQL: src/store/postgres/console.ts), and the Store's
 * groups (core/store.ts) extend the interfaces below, so a caller still asks
 * `store.recipients.search(...)`.
 */
import type { DestinationSummary, RecipientRow, SuppressionRow } from './store-types.js';

/** What the support search looks for. */
export type RecipientSearch =
  | { recipient: string }
  | { sender: string }
  | { message: string }
  | { pendingDomain: string };

export interface RecipientsConsoleReads {
  /**
   * The console's support search, each hit a recipient with its message: every message to an
   * address (newest first), the newest messages from an envelope sender, a message by queue id or
   * Message-ID header, or the oldest pending recipients of a destination domain.
   */
  search(by: RecipientSearch, limit: number): Promise<RecipientHit[]>;
}

export interface SuppressionsConsoleReads {
  byId(id: number): Promise<SuppressionRow | undefined>;
  /**
   * The console's list, one page at a time (opaque keyset cursor): newest first; or the entries
   * whose address starts with `q`; or a whole domain's ("@example.com" or "example.com").
   */
  browse(q: string, cursor: string | undefined, limit: number): Promise<SuppressionPage>;
}

export interface QueueAdminConsoleReads {
  /** The console: pending recipients per destination (the busiest first, at most `limit`), each with its latest reply. */
  destinations(now: number, limit: number): Promise<{ rows: DestinationRow[]; more: number }>;
}

export interface LimitsConsoleReads {
  /** The console: destinations slowed down right now (adaptive throttling), the newest first. */
  slowed(): Promise<SlowedDestination[]>;
}

export interface StatsConsoleReads {
  /** The console's charts: counts per hour for a destination domain ('*': all), hours [fromHour, toHour), from the hourly rollups. */
  hourly(domain: string, fromHour: number, toHour: number): Promise<HourCounts[]>;
  /** The busiest destination domains since `fromHour` (rollups). */
  topDomains(fromHour: number, limit: number): Promise<DomainTotals[]>;
  /** The commonest failure categories since `fromHour` (rollups). */
  hourlyCategories(fromHour: number, limit: number): Promise<{ category: string; n: number }[]>;
}

/** A recipient (as the store keeps it) with its message: one hit of the support search. */
export interface RecipientHit
  extends Pick<RecipientRow, 'messageId' | 'address' | 'domain' | 'attempts' | 'nextAttemptAt' | 'updatedAt' | 'lastCode' | 'lastEnhanced' | 'lastReply' | 'category' | 'mxHost'> {
  recipientId: number;
  status: string;
  complainedAt: number | null;
  acceptedAt: number;
  sender: string;
  subject: string | null;
  messageIdHeader: string | null;
  username: string | null;
}

export interface HourCounts {
  hour: number;
  delivered: number;
  deferred: number;
  bounced: number;
  dropped: number;
  expired: number;
  complained: number;
}

export interface DomainTotals extends Omit<HourCounts, 'hour'> {
  domain: string;
}

export interface SlowedDestination {
  bucket: string;
  target: string;
  perMinute: number;
  restoreTo: number | null;
  since: number | null;
  until: number | null;
  reason: string | null;
}

/** The console's queue row (the rate-limit wait is shown on the recipient, not per destination here). */
export type ConsoleDestination = Omit<DestinationSummary, 'rateLimited' | 'rateLimitedUntil'>;

export interface DestinationRow extends ConsoleDestination {
  lastReply: string | null;
  lastReplyAt: number | null;
}

export interface SuppressionPage {
  rows: SuppressionRow[];
  /** the cursor for the next page, null on the last */
  next: string | null;
  mode: 'newest' | 'address' | 'domain';
}
