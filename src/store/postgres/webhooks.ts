import pg from 'pg';
import type { WebhookCursor } from '../webhooks-repo.js';
import { changes, one, rows } from './sql.js';
import type { PgPool } from './pool.js';

/** The advisory lock whose holder is the cluster's one webhook sender ("ferryhook" as an int8). */
const WEBHOOK_LEADER_LOCK = 0x6665727279686fn;

const fromRaw = (r: Record<string, unknown>): WebhookCursor => ({
  url: r.url as string,
  lastEventId: r.last_event_id as number,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
  failures: r.failures as number,
  lastError: r.last_error as string | null,
  lastAttemptAt: r.last_attempt_at as number | null,
  leaseOwner: r.lease_owner as string | null,
  leaseUntil: r.lease_until as number | null,
});

export interface LeaderOptions {
  url: string;
  /** Names the election session in pg_stat_activity. */
  applicationName?: string;
  onError?: (err: Error) => void;
}

/**
 * The webhook cursors (src/store/webhooks-repo.ts) and the sender's election. Exactly one node
 * sends: the one holding a session advisory lock on its own connection (not a pooled one). When
 * that node dies its connection closes and the server frees the lock at once; the others try
 * again at their next tick (tryLead) and one of them wins. The per-URL cursor lease stays as a
 * second guard against a node that is alive but stalled.
 */
export function createPgWebhooks(pool: PgPool, leader: LeaderOptions) {
  let session: pg.Client | undefined;
  let leading = false;

  async function dropSession(): Promise<void> {
    leading = false;
    const s = session;
    session = undefined;
    await s?.end().catch(() => undefined);
  }

  return {
    async ensure(url: string, startAfterId: number, at: number): Promise<WebhookCursor> {
      await pool.query(
        'INSERT INTO webhook_cursors (url, last_event_id, created_at, updated_at) VALUES ($1, $2, $3, $3) ON CONFLICT (url) DO NOTHING',
        [url, startAfterId, at],
      );
      return fromRaw((await one<Record<string, unknown>>(pool, 'SELECT * FROM webhook_cursors WHERE url = $1', [url]))!);
    },
    async get(url: string): Promise<WebhookCursor | undefined> {
      const r = await one<Record<string, unknown>>(pool, 'SELECT * FROM webhook_cursors WHERE url = $1', [url]);
      return r && fromRaw(r);
    },
    async list(): Promise<WebhookCursor[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM webhook_cursors ORDER BY url')).map(fromRaw);
    },
    /**
     * Forward means later in the order events.settledAfter delivers, (transaction, id), where
     * the next id can be lower than the last; by ids alone when either event is gone.
     */
    async advance(url: string, lastEventId: number, at: number): Promise<void> {
      await pool.query(
        `UPDATE webhook_cursors w SET last_event_id = $2, updated_at = $3, failures = 0, last_error = NULL, last_attempt_at = $3
         WHERE url = $1 AND COALESCE(
           (SELECT (n.txid, n.id) FROM events n WHERE n.id = $2) > (SELECT (o.txid, o.id) FROM events o WHERE o.id = w.last_event_id),
           w.last_event_id < $2)`,
        [url, lastEventId, at],
      );
    },
    async fail(url: string, error: string, at: number): Promise<void> {
      await pool.query('UPDATE webhook_cursors SET failures = failures + 1, last_error = $2, last_attempt_at = $3, updated_at = $3 WHERE url = $1', [
        url,
        error.slice(0, 500),
        at,
      ]);
    },
    async lease(url: string, owner: string, now: number, until: number): Promise<boolean> {
      return (
        (await changes(
          pool,
          `UPDATE webhook_cursors SET lease_owner = $2, lease_until = $4
           WHERE url = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until IS NULL OR lease_until <= $3)`,
          [url, owner, now, until],
        )) === 1
      );
    },
    async release(url: string, owner: string): Promise<void> {
      await pool.query('UPDATE webhook_cursors SET lease_owner = NULL, lease_until = NULL WHERE url = $1 AND lease_owner = $2', [url, owner]);
    },
    /**
     * Becomes (or stays) the cluster's webhook sender if no other node is. Cheap to call on every
     * tick: while leading it only checks that the lock's connection is alive.
     */
    async tryLead(): Promise<boolean> {
      if (leading && session) {
        try {
          await session.query('SELECT 1');
          return true;
        } catch {
          await dropSession();
        }
      }
      if (!session) {
        const s = new pg.Client({ connectionString: leader.url, application_name: leader.applicationName ?? 'ferry webhook sender' });
        s.on('error', (err) => {
          leader.onError?.(err);
          leading = false;
        });
        try {
          await s.connect();
        } catch (err) {
          leader.onError?.(err as Error);
          return false;
        }
        session = s;
      }
      try {
        const r = await session.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [WEBHOOK_LEADER_LOCK.toString()]);
        leading = r.rows[0]!.ok;
      } catch (err) {
        leader.onError?.(err as Error);
        await dropSession();
      }
      return leading;
    },
    get leading(): boolean {
      return leading;
    },
    /** Gives up sending (shutdown): another node takes over at its next tick. */
    resign(): Promise<void> {
      return dropSession();
    },
  };
}

export type PgWebhooks = ReturnType<typeof createPgWebhooks>;
