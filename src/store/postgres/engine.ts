import pg from 'pg';
import { FerryError } from '../../core/errors.js';
import { createPool, storeError, type PgPool } from './pool.js';
import { migratePostgres } from './migrate.js';
import { acceptOn, createPgQueue } from './queue.js';
import { inTransaction as inPgTransaction } from './pool.js';
import { createPgMessages } from './messages.js';
import { createPgRecipients } from './recipients.js';
import { createPgEvents } from './events.js';
import { createPgSuppressions } from './suppressions.js';
import { pgSuppressionLookup } from './suppression-lookup.js';
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
import { createPgFates } from './fates.js';
import { createPgAudited } from './audited.js';
import type { Store } from '../../core/store.js';
import type { AcceptedMessage } from '../../core/store-types.js';
import type { TlsReportQueuedRow } from '../../core/store.js';
import { createPgMtaSts } from './mta-sts.js';
import { createPgTlsReports } from './tls-reports.js';
import { createPgConsole } from './console.js';

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
 * The PostgreSQL store engine: the Store interface (core/store.ts, checked by the compiler below)
 * over one pool, with the same semantics as the SQLite engines (the contract suite in
 * test/store/contract/ runs against both); plus what a cluster needs (nodes, cluster-wide
 * budgets and connection slots, the webhook sender's election, bodies streamed in chunks).
 *
 * What a caller may want to know beyond the interface:
 * - queue.accept groups concurrent calls into one commit itself and resolves after the commit
 *   (synchronous_commit on): the 250 promise. The intake-drop fates are written in that
 *   transaction. Bodies: `body` (in memory) or `spoolFile` (streamed into chunks at accept; the
 *   file may be removed after). messages.get() fills `body` only up to 256 KB and `spoolFile` is
 *   always null: read bodies with messages.openBody(id) (a Readable).
 * - fates.record executes outcome/fate's plans as src/store/fate-writes.ts does on SQLite (both
 *   read plans through src/store/fate-rows.ts); attempt-only calls commit with
 *   synchronous_commit off, like SQLite's relaxed durability for them.
 * - limits.dataVersion() changes with any limits row. The webhook sender reads
 *   events.settledAfter(cursor, n), not events.list({afterId}), and sends only while
 *   webhooks.tryLead() is true.
 * - the web console's reads (recipients.search, suppressions.byId / browse, limits.slowed,
 *   stats.hourly / topDomains / hourlyCategories, queueAdmin.destinations) are in console.ts,
 *   with SQLite's orders (text by bytes, NULL first) whatever the database's collation.
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
  const limits = createPgLimits(pool, opts.now);
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

  const pgQueue = createPgQueue(pool, { nodeName: opts.nodeName });
  const consoleReads = createPgConsole(pool);
  let closed = false;
  const store = {
    engine: 'postgres' as const,
    nodeName: opts.nodeName,
    pool,
    queue: {
      ...pgQueue,
      // One transaction: the report mail and the rows that say it was queued (never twice).
      acceptTlsReport: (mail: AcceptedMessage, sent: readonly TlsReportQueuedRow[]) =>
        inPgTransaction(pool, async (c) => {
          await acceptOn(c, [mail], opts.nodeName);
          for (const row of sent) {
            await c.query(
              `INSERT INTO tls_report_sent (day, policy_domain, destination, state, report_id, detail, at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (day, policy_domain, destination) DO UPDATE SET state = excluded.state, report_id = excluded.report_id, detail = excluded.detail, at = excluded.at`,
              [row.day, row.policyDomain, row.destination, row.state, row.reportId, row.detail, row.at],
            );
          }
        }),
    },
    messages: createPgMessages(pool, asNode ? opts.nodeName : null),
    recipients: { ...recipients, search: consoleReads.search },
    events: createPgEvents(pool),
    suppressions: Object.assign(suppressions, { byId: consoleReads.suppression, browse: consoleReads.suppressions }),
    suppressionLookup: pgSuppressionLookup(suppressions),
    limits: Object.assign(limits, { slowed: consoleReads.slowed }),
    webhooks,
    users: createPgUsers(pool),
    admins: createPgAdmins(pool),
    dkimKeys: createPgDkimKeys(pool),
    attempts: createPgAttempts(pool),
    dsnOutbox: {
      ...createPgDsnOutbox<unknown>(pool),
      // One transaction: the outbox row goes and its report is queued, or neither (another node took it).
      queueReport: (id: number, report: AcceptedMessage | null) =>
        inPgTransaction(pool, async (c) => {
          const gone = await c.query('DELETE FROM dsn_outbox WHERE id = $1', [id]);
          if (!gone.rowCount) return false;
          if (report) await acceptOn(c, [report], opts.nodeName);
          return true;
        }),
    },
    nodes,
    retention: createPgRetention(pool),
    quota: createPgQuota(pool),
    stats: { ...createPgStats(pool), hourly: consoleReads.hourly, topDomains: consoleReads.topDomains, hourlyCategories: consoleReads.topCategories },
    queueAdmin: { ...createPgQueueAdmin(pool), destinations: consoleReads.queue },
    fates: createPgFates(pool),
    audited: createPgAudited(pool),
    /** One round trip to the server (health checks). Rejects with FERRY_ERR_STORE when it is unreachable. */
    async ping(): Promise<void> {
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        throw storeError(opts.url, err);
      }
    },
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
  // The compiler checks here that the engine implements the Store interface (core/store.ts) exactly.
  const checked: Store = store;
  void checked;
  return store;
}

export type PostgresStore = Awaited<ReturnType<typeof openPostgresStore>>;
