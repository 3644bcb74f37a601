import pg from 'pg';
import { FerryError } from '../../core/errors.js';
import { createPool, storeError, type PgPool } from './pool.js';
import { migratePostgres } from './migrate.js';
import { createPgQueue } from './queue.js';
import { createPgMessages } from './messages.js';
import { createPgRecipients } from './recipients.js';
import { createPgEvents } from './events.js';
import { createPgSuppressions, pgSuppressionLookup } from './suppressions.js';
import { createPgLimits } from './limits.js';
import { createPgWebhooks } from './webhooks.js';
import { createPgAdmins, createPgUsers } from './users.js';
import { createPgDkimKeys } from './dkim-keys.js';
import { createPgAttempts, createPgDsnOutbox } from './delivery-records.js';
import { createPgNodes } from './nodes.js';
import { createPgRetention } from './retention.js';
import { createPgQuota } from './quota.js';
import { createPgStats } from './stats.js';
import { createPgQueueAdmin } from './queue-admin.js';
import { createPgMtaSts } from './mta-sts.js';
import { createPgTlsReports } from './tls-reports.js';

export interface PostgresStoreOptions {
  /** postgres://… (store.url). Never logged: errors carry it with the password redacted. */
  url: string;
  poolSize: number;
  /** This node's name: lease owner, heartbeat row, accepted_by. Unique in the cluster. */
  nodeName: string;
  /** Ferry's version, shown by `ferry nodes`. */
  version: string;
  heartbeatMs: number;
  now: () => number;
  /** false: an admin command (no node row, no heartbeat, no lease release, no LISTEN). Default true. */
  asNode?: boolean;
  onError?: (err: Error) => void;
}

/**
 * The PostgreSQL store engine: one group per repository of the SQLite engine, with the same
 * method names, arguments and results, each returning a Promise; plus what a cluster needs
 * (nodes, cluster-wide budgets and connection slots, the webhook sender's election, bodies
 * streamed in chunks).
 *
 * Where a group differs from its SQLite repository (for whoever connects it to the Store interface):
 * - queue.accept(batch) groups commits itself and resolves after the commit: do not wrap it in
 *   store/group-commit.ts. Bodies: `body` (in memory) or `spoolFile` (streamed into chunks at
 *   accept; the file may be removed after). messages.get() fills `body` only up to 256 KB and
 *   `spoolFile` is always null: read bodies with messages.openBody(id) (a Readable).
 * - suppressions.iterate() is suppressions.page(afterId, limit); createImporter() and its
 *   stage()/commit()/abort() are async. limits.dataVersion() changes with any limits row.
 * - The webhook sender reads events.settledAfter(cursor, n), not events.list({afterId}), and
 *   sends only while webhooks.tryLead() is true.
 * - Multi-table writes composed by a caller (the fate writer): changeRecipientStatus,
 *   appendEvent, insertAttempt and addDsn take a client of inTransaction(pool, …).
 */
export async function openPostgresStore(opts: PostgresStoreOptions) {
  const asNode = opts.asNode ?? true;
  const pool: PgPool = createPool({ url: opts.url, size: opts.poolSize, applicationName: `ferry ${opts.nodeName}`, onError: opts.onError });
  try {
    await pool.query('SELECT 1');
    await migratePostgres(pool, opts.now);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeError(opts.url, err);
  }

  const recipients = createPgRecipients(pool);
  const limits = createPgLimits(pool);
  const nodes = createPgNodes(pool);
  const suppressions = createPgSuppressions(pool, { url: opts.url, applicationName: `ferry ${opts.nodeName} listen`.slice(0, 63), now: opts.now, onError: opts.onError });
  const webhooks = createPgWebhooks(pool, { url: opts.url, applicationName: `ferry ${opts.nodeName} webhook sender`.slice(0, 63), onError: opts.onError });
  let heartbeat: NodeJS.Timeout | undefined;

  // One live node per name: a session advisory lock on the name, held on its own connection for
  // the node's life. A second process with the same store.nodeName would release and steal this
  // one's leases, so it is refused; a crashed node's lock goes with its connection, so its
  // restart is not.
  let nodeSession: pg.Client | undefined;
  if (asNode) {
    nodeSession = new pg.Client({ connectionString: opts.url, application_name: `ferry ${opts.nodeName}`.slice(0, 63) });
    nodeSession.on('error', (err) => opts.onError?.(err));
    try {
      await nodeSession.connect();
      const r = await nodeSession.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended('ferry-node:' || $1, 0)) AS ok", [opts.nodeName]);
      if (!r.rows[0]!.ok) {
        throw new FerryError('FERRY_ERR_LOCKED', `another node named ${opts.nodeName} is running on this store: store.nodeName must be unique in the cluster`);
      }
    } catch (err) {
      await nodeSession.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
      throw err instanceof FerryError ? err : storeError(opts.url, err);
    }
  }

  if (asNode) {
    const at = opts.now();
    await nodes.register(opts.nodeName, opts.version, process.pid, at);
    // A restarted node gives back what it held when it died; other nodes' leases are theirs.
    await recipients.releaseOwned(opts.nodeName, at);
    await limits.releaseConnectionsOf(opts.nodeName);
    await suppressions.start();
    heartbeat = setInterval(() => {
      nodes.heartbeat(opts.nodeName, opts.now()).catch((err: Error) => opts.onError?.(err));
    }, opts.heartbeatMs);
    heartbeat.unref();
  }

  let closed = false;
  return {
    engine: 'postgres' as const,
    nodeName: opts.nodeName,
    pool,
    queue: createPgQueue(pool, { nodeName: opts.nodeName }),
    messages: createPgMessages(pool),
    recipients,
    events: createPgEvents(pool),
    suppressions,
    suppressionLookup: pgSuppressionLookup(suppressions),
    limits,
    webhooks,
    users: createPgUsers(pool),
    admins: createPgAdmins(pool),
    dkimKeys: createPgDkimKeys(pool),
    attempts: createPgAttempts(pool),
    dsnOutbox: createPgDsnOutbox<unknown>(pool),
    nodes,
    retention: createPgRetention(pool),
    quota: createPgQuota(pool),
    stats: createPgStats(pool),
    queueAdmin: createPgQueueAdmin(pool),
    mtaSts: createPgMtaSts(pool),
    tlsReports: createPgTlsReports(pool),
    /** Clean stop: leases stay until released by the caller's drain; the node row says it stopped. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (heartbeat) clearInterval(heartbeat);
      await suppressions.close();
      await webhooks.resign();
      if (asNode) await nodes.stopped(opts.nodeName, opts.now()).catch(() => undefined);
      await nodeSession?.end().catch(() => undefined);
      await pool.end();
    },
    /** For tests of failover: drop every connection at once, as `kill -9` would, writing nothing. */
    async crash(): Promise<void> {
      if (closed) return;
      closed = true;
      if (heartbeat) clearInterval(heartbeat);
      await suppressions.close();
      await webhooks.resign();
      await nodeSession?.end().catch(() => undefined);
      await pool.end();
    },
  };
}

export type PostgresStore = Awaited<ReturnType<typeof openPostgresStore>>;
