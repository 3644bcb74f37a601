import type { Command } from 'commander';
import { FerryError, errorMessage } from '../core/errors.js';
import { pidFilePath, processAlive, readPidFile } from '../ops/pid-file.js';
import { httpGet } from '../ops/probe.js';
import { redactStoreUrl } from '../config/store-url.js';
import { dataDirLockState } from '../ops/data-dir-lock.js';
import { checkIntegrity, corruptionError, QUICK_CHECK_MAX_BYTES } from '../store/integrity.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from './context.js';
import { isoTime, json } from './format.js';
import { formatAge } from './stats.js';
import { VERSION } from '../core/version.js';

interface Probe {
  url: string;
  healthy: boolean;
  ready: boolean | null;
  failing: string[];
  about: Record<string, unknown> | null;
  error: string | null;
}

/**
 * `ferry status [--json]`: is the relay running (dataDir/ferry.pid and signal 0; and /healthz
 * when http.listen is set; and the data directory's lock), where it listens, how much mail
 * waits, when it last delivered, and whether the database passes PRAGMA quick_check (up to
 * QUICK_CHECK_MAX_BYTES). Exits 1 when the relay is not running, 4 when the database is corrupt.
 */
export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('is the relay running: process, listeners, health, queue size, last delivery, version')
    .option('--json', 'machine-readable output')
    .option('--health', 'only ask the relay\'s /readyz at the configured http.listen: exit 0 when ready (container health checks)')
    .action(async (opts: { json?: boolean; health?: boolean }) => {
      const config = ctx.config();
      if (opts.health) return health(config.http.listen, ctx);
      const now = ctx.clock.now();
      const pidFile = pidFilePath(config.dataDir);
      const pid = readPidFile(pidFile);
      const alive = pid !== null && processAlive(pid);
      const probe = config.http.listen ? await probeHttp(config.http.listen) : null;
      // The lock is the truth about "a relay runs on this data directory": it cannot go stale.
      const lock = dataDirLockState(config.dataDir);
      const running = alive || Boolean(probe?.healthy) || lock === 'held';
      // On PostgreSQL (store.url) the cluster's store is asked; its files are the server's business.
      const pgUrl = config.store.url;
      const dbFile = pgUrl ? String(redactStoreUrl(pgUrl)) : join(config.dataDir, 'ferry.db');
      // ctx.db() first: a data directory without a database is named as such, not as a failed stat.
      const size = pgUrl ? null : (ctx.db(), statSync(dbFile).size);
      const integrity =
        !pgUrl && size !== null && size <= QUICK_CHECK_MAX_BYTES
          ? checkIntegrity(ctx.db(), 'quick_check', 3)
          : { ok: true, problems: [], check: 'skipped' as const };
      const stats = (await ctx.store()).stats;
      const queue = integrity.ok ? await stats.queueDepth() : { queued: 0, deferred: 0 };
      const last = integrity.ok ? await stats.lastDelivery() : null;
      const about = probe?.about ?? null;
      const listeners =
        (about?.listeners as Record<string, string | null> | null | undefined) ??
        ({ smtp: config.smtp.listen, smtps: config.smtp.tlsListen, http: config.http.listen } as Record<string, string | null>);
      const report = {
        running,
        pid: alive ? pid : ((about?.pid as number | undefined) ?? null),
        pidFile: { path: pidFile, pid, stale: pid !== null && !alive },
        version: { relay: (about?.version as string | undefined) ?? null, cli: VERSION },
        listeners,
        /** where the listeners come from: the running relay (/healthz) or the configuration */
        listenersFrom: about?.listeners ? 'relay' : 'config',
        health: probe,
        queue,
        lastDelivery: last ? { at: isoTime(last.at), messageId: last.messageId, mx: last.mxHost } : null,
        dataDir: config.dataDir,
        lock,
        database: pgUrl
          ? { engine: 'postgres', url: dbFile, ok: integrity.ok }
          : { engine: 'sqlite', file: dbFile, bytes: size, check: integrity.check, ok: integrity.ok, problems: integrity.problems },
      };
      if (opts.json) {
        ctx.io.stdout.write(json(report));
      } else {
        const out = ctx.io.stdout;
        const state = running
          ? `running${report.pid ? ` (pid ${report.pid})` : ''}`
          : pid !== null
            ? `not running (stale pid file ${pidFile} names pid ${pid})`
            : 'not running';
        out.write(`relay          ${state}\n`);
        out.write(`version        ${report.version.relay ?? VERSION}${report.version.relay && report.version.relay !== VERSION ? ` (this ferry command: ${VERSION})` : ''}\n`);
        for (const [name, addr] of Object.entries(listeners)) {
          if (addr) out.write(`${`${name}`.padEnd(15)}${addr}${report.listenersFrom === 'config' ? ' (configured)' : ''}\n`);
        }
        if (probe) {
          const health = probe.error
            ? `unreachable at ${probe.url}: ${probe.error}`
            : `${probe.healthy ? 'healthy' : 'unhealthy'}, ${probe.ready ? 'ready' : `not ready (${probe.failing.join(', ') || 'unknown'})`}`;
          out.write(`health         ${health}\n`);
        }
        const dbState = pgUrl
          ? `PostgreSQL ${dbFile}`
          : !integrity.ok
          ? `CORRUPT: ${integrity.problems.join('; ')}`
          : integrity.check === 'skipped'
            ? `not checked (${size} bytes, over ${QUICK_CHECK_MAX_BYTES}: run "ferry doctor --data")`
            : 'quick_check ok';
        out.write(`database       ${dbState}\n`);
        out.write(`queue          ${queue.queued} queued, ${queue.deferred} deferred\n`);
        out.write(
          `last delivery  ${last ? `${isoTime(last.at)} (${formatAge((now - last.at) / 1000)} ago)${last.mxHost ? ` via ${last.mxHost}` : ''}` : 'never'}\n`,
        );
        out.write(`data           ${config.dataDir}\n`);
      }
      if (!integrity.ok) throw corruptionError(dbFile, `quick_check: ${integrity.problems.join('; ')}`);
      if (!running) throw new FerryError('FERRY_ERR_NOT_FOUND', 'the relay is not running');
    });
}

/** `status --health`: one request, no database, no pid file; the port is the configured one. */
async function health(listen: string | null, ctx: CliContext): Promise<void> {
  if (!listen) throw new FerryError('FERRY_ERR_CONFIG', '--health needs the HTTP endpoint: http.listen (or FERRY_HTTP_LISTEN) is off');
  const probe = await probeHttp(listen);
  if (probe.error) throw new FerryError('FERRY_ERR_NOT_FOUND', `no relay answers at ${probe.url}: ${probe.error}`);
  if (!probe.ready) throw new FerryError('FERRY_ERR_NOT_FOUND', `not ready at ${probe.url}: ${probe.failing.join(', ') || 'unknown'}`);
  ctx.io.stdout.write(`ready at ${probe.url}\n`);
}

async function probeHttp(listen: string): Promise<Probe> {
  const probe: Probe = { url: `http://${listen}`, healthy: false, ready: null, failing: [], about: null, error: null };
  try {
    const health = await httpGet(listen, '/healthz');
    probe.healthy = health.status === 200;
    probe.about = JSON.parse(health.body) as Record<string, unknown>;
    const ready = await httpGet(listen, '/readyz');
    probe.ready = ready.status === 200;
    probe.failing = ((JSON.parse(ready.body) as { failing?: string[] }).failing ?? []).map(String);
  } catch (err) {
    probe.error = errorMessage(err);
  }
  return probe;
}
