import { rows } from './sql.js';
import type { PgPool } from './pool.js';

export interface NodeRow {
  name: string;
  version: string;
  pid: number | null;
  startedAt: number;
  heartbeatAt: number;
  /** When it stopped cleanly; null while running (or if it died). */
  stoppedAt: number | null;
  /** Recipients it holds under a lease that has not run out. */
  leasesHeld: number;
}

/** The `nodes` table: who is in the cluster, alive when, holding what. */
export function createPgNodes(pool: PgPool) {
  return {
    async register(name: string, version: string, pid: number, at: number): Promise<void> {
      await pool.query(
        `INSERT INTO nodes (name, version, pid, started_at, heartbeat_at, stopped_at) VALUES ($1, $2, $3, $4, $4, NULL)
         ON CONFLICT (name) DO UPDATE SET version = $2, pid = $3, started_at = $4, heartbeat_at = $4, stopped_at = NULL`,
        [name, version, pid, at],
      );
    },
    async heartbeat(name: string, at: number): Promise<void> {
      await pool.query('UPDATE nodes SET heartbeat_at = greatest(heartbeat_at, $2) WHERE name = $1', [name, at]);
    },
    async stopped(name: string, at: number): Promise<void> {
      await pool.query('UPDATE nodes SET stopped_at = $2, heartbeat_at = greatest(heartbeat_at, $2) WHERE name = $1', [name, at]);
    },
    async list(now: number): Promise<NodeRow[]> {
      const r = await rows<Record<string, unknown>>(
        pool,
        `SELECT n.*, coalesce(l.n, 0)::int AS leases FROM nodes n
         LEFT JOIN (SELECT lease_owner, count(*) AS n FROM recipients
                    WHERE lease_owner IS NOT NULL AND lease_until > $1 AND status IN ('queued','deferred') GROUP BY 1) l
           ON l.lease_owner = n.name
         ORDER BY n.name`,
        [now],
      );
      return r.map((x) => ({
        name: x.name as string,
        version: x.version as string,
        pid: x.pid as number | null,
        startedAt: x.started_at as number,
        heartbeatAt: x.heartbeat_at as number,
        stoppedAt: x.stopped_at as number | null,
        leasesHeld: x.leases as number,
      }));
    },
  };
}

export type PgNodes = ReturnType<typeof createPgNodes>;
