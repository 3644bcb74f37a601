import type { Db } from './db.js';
import type { WebhookCursor } from '../core/store-types.js';
export type { WebhookCursor } from '../core/store-types.js';

interface RawCursor {
  url: string;
  last_event_id: number;
  created_at: number;
  updated_at: number;
  failures: number;
  last_error: string | null;
  last_attempt_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
}

function fromRaw(r: RawCursor): WebhookCursor {
  return {
    url: r.url,
    lastEventId: r.last_event_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    failures: r.failures,
    lastError: r.last_error,
    lastAttemptAt: r.last_attempt_at,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until,
  };
}

/** The only code that knows the SQL of the `webhook_cursors` table (migration 006). */
export function createWebhooksRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO webhook_cursors (url, last_event_id, created_at, updated_at) VALUES (@url, @lastEventId, @at, @at)
     ON CONFLICT (url) DO NOTHING`,
  );
  const byUrl = db.prepare('SELECT * FROM webhook_cursors WHERE url = ?');
  const all = db.prepare('SELECT * FROM webhook_cursors ORDER BY url');
  // Only forward: a slow node finishing an old batch can never move a cursor back.
  const advance = db.prepare(
    `UPDATE webhook_cursors SET last_event_id = @lastEventId, updated_at = @at, failures = 0, last_error = NULL, last_attempt_at = @at
     WHERE url = @url AND last_event_id < @lastEventId`,
  );
  const fail = db.prepare(
    'UPDATE webhook_cursors SET failures = failures + 1, last_error = @error, last_attempt_at = @at, updated_at = @at WHERE url = @url',
  );
  const lease = db.prepare(
    `UPDATE webhook_cursors SET lease_owner = @owner, lease_until = @until
     WHERE url = @url AND (lease_owner IS NULL OR lease_owner = @owner OR lease_until IS NULL OR lease_until <= @now)`,
  );
  const release = db.prepare('UPDATE webhook_cursors SET lease_owner = NULL, lease_until = NULL WHERE url = @url AND lease_owner = @owner');

  return {
    /** Creates the URL's cursor at `startAfterId` unless it exists; returns the cursor. */
    ensure(url: string, startAfterId: number, at: number): WebhookCursor {
      insert.run({ url, lastEventId: startAfterId, at });
      return fromRaw(byUrl.get(url) as RawCursor);
    },
    get(url: string): WebhookCursor | undefined {
      const r = byUrl.get(url) as RawCursor | undefined;
      return r && fromRaw(r);
    },
    list(): WebhookCursor[] {
      return (all.all() as RawCursor[]).map(fromRaw);
    },
    /** After a 2xx: everything up to lastEventId was delivered. */
    advance(url: string, lastEventId: number, at: number): void {
      advance.run({ url, lastEventId, at });
    },
    fail(url: string, error: string, at: number): void {
      fail.run({ url, error: error.slice(0, 500), at });
    },
    /** Takes (or renews) the right to send to `url` until `until`; false while another node holds it. */
    lease(url: string, owner: string, now: number, until: number): boolean {
      return lease.run({ url, owner, now, until }).changes === 1;
    },
    release(url: string, owner: string): void {
      release.run({ url, owner });
    },
  };
}

export type WebhooksRepo = ReturnType<typeof createWebhooksRepo>;
