import type { Command } from 'commander';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from '../store/sqlite-driver.js';
import { FerryError, errorMessage } from '../core/errors.js';
import { createStatsRepo } from '../store/stats-repo.js';
import type { CliContext } from './context.js';
import { json } from './format.js';

/**
 * `ferry backup FILE [--force]`: an online copy of the database (SQLite's backup API: consistent
 * while the relay keeps writing). Written to FILE.tmp, checked, then renamed, so FILE is either
 * a complete database or untouched. Bodies above spool.inlineMaxBytes live in dataDir/spool,
 * not in the database: the command says how many and where.
 */
export function registerBackupCommand(program: Command, ctx: CliContext): void {
  program
    .command('backup')
    .description('copy the database (queue, suppressions, users, DKIM key list, events) to FILE while the relay runs')
    .argument('<file>', 'where to write the copy')
    .option('--force', 'replace FILE if it exists')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { force?: boolean; json?: boolean }) => {
      const config = ctx.config();
      const target = resolve(file);
      const live = join(config.dataDir, 'ferry.db');
      if ([live, `${live}-wal`, `${live}-shm`].includes(target)) {
        throw new FerryError('FERRY_ERR_USAGE', `${file} is the live database: choose another file`);
      }
      if (existsSync(target) && !opts.force) {
        throw new FerryError('FERRY_ERR_EXISTS', `${file} exists: choose another name, or add --force to replace it`);
      }
      const db = ctx.db();
      const tmp = `${target}.tmp`;
      rmSync(tmp, { force: true });
      try {
        await db.backup(tmp);
        const copy = new Database(tmp, { readonly: true });
        try {
          const check = copy.pragma('quick_check', { simple: true });
          if (check !== 'ok') throw new FerryError('FERRY_ERR_STORE', `the copy failed its integrity check: ${String(check)}`);
        } finally {
          copy.close();
        }
        renameSync(tmp, target);
      } catch (err) {
        rmSync(tmp, { force: true });
        if (err instanceof FerryError) throw err;
        throw new FerryError('FERRY_ERR_STORE', `backup to ${file} failed: ${errorMessage(err)}`, { cause: err });
      }
      const stats = createStatsRepo(db);
      const queue = stats.queueDepth();
      const spoolBodies = stats.spoolBodies();
      const result = { file: target, bytes: statSync(target).size, queue, spoolBodies, spoolDir: join(config.dataDir, 'spool') };
      if (opts.json) {
        ctx.io.stdout.write(json(result));
        return;
      }
      ctx.io.stdout.write(`backed up ${live} to ${target} (${result.bytes} bytes; queue: ${queue.queued} queued, ${queue.deferred} deferred)\n`);
      if (spoolBodies > 0) {
        ctx.io.stdout.write(
          `note: ${spoolBodies} message bodies are spool files in ${result.spoolDir}, not in the database: copy that directory after this backup (e.g. rsync -a)\n`,
        );
      }
    });
}
