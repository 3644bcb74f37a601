import type { Db } from './db.js';
import type { QueueDepth, OldestQueued, DestinationFailures, SuppressionGrowth } from '../core/store-types.js';
export type { QueueDepth, OldestQueued, DestinationFailures, SuppressionGrowth } from '../core/store-types.js';

/**
 * Read-only questions operators ask (metrics scrapes, `ferry stats`, `ferry status`). The only
 * code that knows this SQL; every query here is served by an index or bounded by the window.
 */
export function createStatsRepo(db: Db) {
  const depth = db.prepare(
    "SELECT status, COUNT(*) AS n FROM recipients WHERE status IN ('queued','deferred') GROUP BY status",
  );
  // recipients_pending_age (status, created_at) WHERE status IN ('queued','deferred'): a partial
  // index is used only when the query repeats its condition, hence the IN next to the '='.
  const oldestOf = db.prepare(
    `SELECT message_id, address, domain, status, created_at, attempts, last_reply FROM recipients
     WHERE status IN ('queued','deferred') AND status = ? ORDER BY created_at LIMIT 1`,
  );
  // Recipients of the messages accepted in the window (messages_created, then recipients_message).
  const byStatusSince = db.prepare(
    `SELECT CASE WHEN r.complained_at IS NOT NULL THEN 'spam' ELSE r.status END AS status, COUNT(*) AS n
     FROM messages m JOIN recipients r ON r.message_id = m.id
     WHERE m.created_at >= ? GROUP BY 1`,
  );
  const categoriesSince = db.prepare(
    `SELECT r.category AS category, COUNT(*) AS n FROM messages m JOIN recipients r ON r.message_id = m.id
     WHERE m.created_at >= ? AND r.status IN ('bounced','expired','dropped') GROUP BY r.category ORDER BY n DESC, category LIMIT ?`,
  );
  const messagesSince = db.prepare('SELECT COUNT(*) AS n FROM messages WHERE created_at >= ?');
  // Attempts made in the window (attempts_at), per recipient domain.
  const failingDestinations = db.prepare(
    `SELECT r.domain AS domain,
            SUM(CASE WHEN a.result = 'deferred' THEN 1 ELSE 0 END) AS deferred,
            SUM(CASE WHEN a.result IN ('bounced','expired') THEN 1 ELSE 0 END) AS bounced
     FROM attempts a JOIN recipients r ON r.id = a.recipient_id
     WHERE a.at >= ? AND a.result IN ('deferred','bounced','expired')
     GROUP BY r.domain ORDER BY deferred + bounced DESC, domain LIMIT ?`,
  );
  const attemptsSince = db.prepare('SELECT result, COUNT(*) AS n FROM attempts WHERE at >= ? GROUP BY result');
  const lastDelivery = db.prepare(
    "SELECT at, message_id, mx_host FROM attempts WHERE result = 'delivered' ORDER BY at DESC LIMIT 1",
  );
  const spoolBodies = db.prepare('SELECT COUNT(*) AS n FROM messages WHERE spool_file IS NOT NULL');
  const hasSuppressions =
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'suppressions'").get() !== undefined;
  const suppressionTotal = hasSuppressions ? db.prepare('SELECT COUNT(*) AS n FROM suppressions') : null;
  const suppressionAdded = hasSuppressions ? db.prepare('SELECT COUNT(*) AS n FROM suppressions WHERE created_at >= ?') : null;

  return {
    queueDepth(): QueueDepth {
      const out: QueueDepth = { queued: 0, deferred: 0 };
      for (const r of depth.all() as { status: keyof QueueDepth; n: number }[]) out[r.status] = r.n;
      return out;
    },
    oldestQueued(): OldestQueued | null {
      type Raw = { message_id: string; address: string; domain: string; status: string; created_at: number; attempts: number; last_reply: string | null };
      const q = oldestOf.get('queued') as Raw | undefined;
      const d = oldestOf.get('deferred') as Raw | undefined;
      const r = q && d ? (d.created_at < q.created_at ? d : q) : (q ?? d);
      if (!r) return null;
      return { messageId: r.message_id, recipient: r.address, domain: r.domain, status: r.status, createdAt: r.created_at, attempts: r.attempts, lastReply: r.last_reply };
    },
    /** Messages accepted since `since`, and their recipients by current status ('spam': delivered, then complained about). */
    recipientsSince(since: number): { messages: number; byStatus: Record<string, number> } {
      const byStatus: Record<string, number> = {};
      for (const r of byStatusSince.all(since) as { status: string; n: number }[]) byStatus[r.status] = r.n;
      return { messages: (messagesSince.get(since) as { n: number }).n, byStatus };
    },
    /** Categories of the recipients (accepted since `since`) that ended bounced, expired or dropped. */
    topCategories(since: number, limit: number): { category: string; count: number }[] {
      return (categoriesSince.all(since, limit) as { category: string | null; n: number }[]).map((r) => ({ category: r.category ?? 'other', count: r.n }));
    },
    /** Destinations with the most deferred and bounced attempts since `since`. */
    failingDestinations(since: number, limit: number): DestinationFailures[] {
      return failingDestinations.all(since, limit) as DestinationFailures[];
    },
    attemptsSince(since: number): Record<string, number> {
      const out: Record<string, number> = {};
      for (const r of attemptsSince.all(since) as { result: string; n: number }[]) out[r.result] = r.n;
      return out;
    },
    lastDelivery(): { at: number; messageId: string; mxHost: string | null } | null {
      const r = lastDelivery.get() as { at: number; message_id: string; mx_host: string | null } | undefined;
      return r ? { at: r.at, messageId: r.message_id, mxHost: r.mx_host } : null;
    },
    /** Messages whose body is a spool file rather than a column (a backup must copy those files). */
    spoolBodies(): number {
      return (spoolBodies.get() as { n: number }).n;
    },
    /** null when this database has no suppression list yet. */
    suppressions(since: number): SuppressionGrowth | null {
      if (!suppressionTotal || !suppressionAdded) return null;
      return { total: (suppressionTotal.get() as { n: number }).n, added: (suppressionAdded.get(since) as { n: number }).n };
    },
  };
}

export type StatsRepo = ReturnType<typeof createStatsRepo>;
