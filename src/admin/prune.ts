import { createInProcessSqliteStore } from '../store/sqlite/engine.js';
import type { Command } from 'commander';
import { join } from 'node:path';
import { FerryError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createRetention, type RetentionReport } from '../ops/retention.js';
import { createSpool } from '../spool/spool.js';
import type { CliContext } from './context.js';
import { json, table } from './format.js';

/**
 * `ferry prune [--dry-run] [--days N] [--json]`: one retention pass by hand, the same the relay
 * runs every retention.sweepIntervalMs: bodies of finished messages (after keepBodiesHours), then
 * the records of messages finished more than retention.days ago. Safe while the relay runs (each
 * batch is one short transaction). The suppression list is never touched.
 */
export function registerPruneCommand(program: Command, ctx: CliContext): void {
  program
    .command('prune')
    .description('delete finished message bodies and records older than retention.days (the suppression list is kept)')
    .option('--dry-run', 'only count what would be deleted')
    .option('--days <n>', 'records older than this many days (default: retention.days; 0: keep records)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dryRun?: boolean; days?: string; json?: boolean }) => {
      const config = ctx.config();
      let days = config.retention.days;
      if (opts.days !== undefined) {
        if (!/^\d+(?:\.\d+)?$/.test(opts.days)) throw new FerryError('FERRY_ERR_USAGE', `--days ${JSON.stringify(opts.days)}: expected a number of days (0 or more)`);
        days = Number(opts.days);
      }
      const db = ctx.db('ferry prune');
      const spool = createSpool({ dir: join(config.dataDir, 'spool'), inlineMaxBytes: config.spool.inlineMaxBytes });
      const retention = createRetention({
        // The CLI's own process: the in-process engine over its connection (one short command).
        store: createInProcessSqliteStore(db),
        removeSpoolFile: (file) => spool.remove(file),
        clock: ctx.clock,
        logger: silentLogger(),
        settings: () => ({ ...config.retention, days }),
        webhookUrls: () => (config.webhooks.secret ? config.webhooks.urls : []),
      });
      const report = await retention.run({ dryRun: opts.dryRun ?? false });
      if (opts.json) {
        ctx.io.stdout.write(json({ ...report, days, keepBodiesHours: config.retention.keepBodiesHours }));
        return;
      }
      ctx.io.stdout.write(describe(report, days, config.retention.keepBodiesHours));
    });
}

function describe(r: RetentionReport, days: number, keepBodiesHours: number): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const lines: string[] = [];
  const bodies = r.bodies.inline + r.bodies.files;
  lines.push(r.dryRun ? 'Dry run: nothing was deleted.' : 'Prune finished.');
  lines.push(
    table(
      ['what', verb],
      [
        [`bodies of finished messages${keepBodiesHours > 0 ? ` (finished ${keepBodiesHours} h ago or more)` : ''}`, `${bodies} (${r.bodies.files} spool files, ${formatBytes(r.bodies.bytes)})`],
        [days > 0 ? `messages finished more than ${days} days ago` : 'messages (retention.days is 0: records are kept)', r.messages],
        ['  their recipients', r.recipients],
        ['  their attempts', r.attempts],
        ['  their events', r.events],
      ],
    ).trimEnd(),
  );
  if (r.heldBack.dsn || r.heldBack.webhook) {
    lines.push(`kept though old enough: ${r.heldBack.dsn} with a DSN not yet queued, ${r.heldBack.webhook} with events a webhook URL has not been sent`);
  }
  lines.push('The suppression list is never pruned by age.');
  return `${lines.join('\n')}\n`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
