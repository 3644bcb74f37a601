import type { Command } from 'commander';
import { closeSync, existsSync, openSync, realpathSync, renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from '../store/sqlite-driver.js';
import { FerryError, errorMessage } from '../core/errors.js';
import { DATA_FILE_MODE } from '../core/data-dir.js';
import { createStatsRepo } from '../store/stats-repo.js';
import type { CliContext } from './context.js';
import { json } from './format.js';

/**
 * `ferry backup FILE [--force]`: an online copy of the database (SQLite's backup API: consistent
 * while the relay keeps writing). Written to FILE.tmp (created 0600 by this command, refused if
 * it exists), checked, switched to a rollback journal (the copy is one self-contained file, no
 * -wal/-shm beside it), then renamed, so FILE is either a complete database or untouched.
 * FILE is compared with the live database and its WAL/SHM as files (device and inode, and the
 * real path of its directory), not as strings: a symlink cannot make the backup replace them.
 * Bodies above spool.inlineMaxBytes live in dataDir/spool, not in the database: the command
 * says how many and where.
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
      const live = join(config.dataDir, 'ferry.db');
      const db = ctx.db('ferry backup');
      const target = realTarget(resolve(file));
      const tmp = `${target}.tmp`;
      const liveFiles = [live, `${live}-wal`, `${live}-shm`, `${live}-journal`];
      for (const candidate of [target, tmp, `${target}-wal`, `${target}-shm`, `${target}-journal`, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) {
        if (liveFiles.some((l) => sameFile(candidate, l))) {
          throw new FerryError('FERRY_ERR_USAGE', `${file} is the live database or one of its files (${candidate}): choose another file`);
        }
      }
      if (existsSync(target) && !opts.force) {
        throw new FerryError('FERRY_ERR_EXISTS', `${file} exists: choose another name, or add --force to replace it`);
      }
      // A WAL or journal next to FILE would be applied to the new copy when it is opened.
      for (const companion of [`${target}-wal`, `${target}-shm`, `${target}-journal`]) {
        if (existsSync(companion)) {
          throw new FerryError('FERRY_ERR_EXISTS', `${companion} exists: a database at ${file} is open or was not closed cleanly; close it, or choose another name`);
        }
      }
      for (const mine of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) {
        if (existsSync(mine)) {
          throw new FerryError('FERRY_ERR_EXISTS', `${mine} exists (a backup in progress, or one that was interrupted): remove it yourself if no backup is running`);
        }
      }
      // Ours from here on: created exclusively, so everything removed below is what we made.
      closeSync(openSync(tmp, 'wx', DATA_FILE_MODE));
      try {
        await db.backup(tmp);
        const copy = new Database(tmp);
        try {
          copy.pragma('journal_mode = DELETE');
          const check = copy.pragma('quick_check', { simple: true });
          if (check !== 'ok') throw new FerryError('FERRY_ERR_STORE', `the copy failed its integrity check: ${String(check)}`);
        } finally {
          copy.close();
        }
        renameSync(tmp, target);
      } catch (err) {
        for (const mine of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) removeIfPresent(mine);
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

/** FILE with its directory's symlinks resolved (FILE itself may not exist yet). */
function realTarget(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path; // the directory does not exist: the open of FILE.tmp will say so
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * The same file: same device and inode when both exist (a symlink or hard link to it), or the
 * same real path (the live -wal that does not exist right now but will).
 */
function sameFile(a: string, b: string): boolean {
  const sa = statOrNull(a);
  const sb = statOrNull(b);
  if (sa && sb) return sa.dev === sb.dev && sa.ino === sb.ino;
  return realTarget(a) === realTarget(b);
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}
