import type { Command } from 'commander';
import { hostname } from 'node:os';
import { FerryError } from '../core/errors.js';
import type { NodeRow } from '../store/postgres/nodes.js';
import type { CliContext } from './context.js';
import { isoTime, json, table } from './format.js';
import { VERSION } from '../core/version.js';

/** A node whose heartbeat is older than this many heartbeat intervals is reported silent (probably dead). */
const SILENT_AFTER_BEATS = 3;

type NodeState = 'alive' | 'silent' | 'stopped';

function stateOf(n: NodeRow, now: number, heartbeatMs: number): NodeState {
  if (n.stoppedAt !== null) return 'stopped';
  return now - n.heartbeatAt <= SILENT_AFTER_BEATS * heartbeatMs ? 'alive' : 'silent';
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/**
 * `ferry nodes`: the Ferry nodes sharing this PostgreSQL store, with their last heartbeat, the
 * recipients each holds under a live lease, and their version. Only for the PostgreSQL engine:
 * with SQLite there is one node, the one owning dataDir.
 */
export function registerNodesCommand(program: Command, ctx: CliContext): void {
  program
    .command('nodes')
    .description('the Ferry nodes sharing the PostgreSQL store (store.url): heartbeat, leases held, version')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      if (!config.store.url) {
        throw new FerryError(
          'FERRY_ERR_USAGE',
          'ferry nodes lists the nodes of a PostgreSQL store: set store.url (or FERRY_STORE_URL); this configuration uses SQLite in dataDir, one node',
        );
      }
      // Loaded here: pg is only needed by this command (and costs every other command its import).
      const { openPostgresStore } = await import('../store/postgres/engine.js');
      const store = await openPostgresStore({
        url: config.store.url,
        poolSize: 1,
        nodeName: `${config.store.nodeName ?? hostname()} (ferry nodes)`,
        version: VERSION,
        heartbeatMs: config.store.heartbeatMs,
        now: () => ctx.clock.now(),
        asNode: false,
      });
      try {
        const now = ctx.clock.now();
        const nodes = await store.nodes.list(now);
        const heartbeatMs = config.store.heartbeatMs;
        if (opts.json) {
          ctx.io.stdout.write(
            json(
              nodes.map((n) => ({
                name: n.name,
                state: stateOf(n, now, heartbeatMs),
                version: n.version,
                pid: n.pid,
                startedAt: isoTime(n.startedAt),
                lastHeartbeat: isoTime(n.heartbeatAt),
                stoppedAt: n.stoppedAt === null ? null : isoTime(n.stoppedAt),
                leasesHeld: n.leasesHeld,
              })),
            ),
          );
          return;
        }
        if (nodes.length === 0) {
          ctx.io.stdout.write('no nodes have started on this store yet\n');
          return;
        }
        ctx.io.stdout.write(
          table(
            ['node', 'state', 'last heartbeat', 'leases held', 'version', 'started'],
            nodes.map((n) => [n.name, stateOf(n, now, heartbeatMs), `${isoTime(n.heartbeatAt)} (${age(now - n.heartbeatAt)})`, n.leasesHeld, n.version, isoTime(n.startedAt)]),
          ),
        );
      } finally {
        await store.close();
      }
    });
}
