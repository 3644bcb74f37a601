import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataDir } from '../core/data-dir.js';
import { FerryError } from '../core/errors.js';
import { openDatabase } from '../store/db.js';
import type { CliContext } from './context.js';

/**
 * `ferry init`: creates the data directory (0700) and an empty database (0600) where the
 * configuration points, so admin commands (users, DKIM keys, suppressions) can prepare a relay
 * before its first start. The only command besides `ferry start` that creates a database.
 */
export function registerInitCommand(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description("create the data directory and an empty database where the configuration points (ferry start also does)")
    .action(() => {
      if (ctx.config().store.url) {
        throw new FerryError('FERRY_ERR_USAGE', 'ferry init creates the SQLite database in dataDir; this configuration uses the PostgreSQL store (store.url), whose tables the first command or node to connect creates');
      }
      const dataDir = ctx.config().dataDir;
      const file = join(dataDir, 'ferry.db');
      const existed = existsSync(file);
      prepareDataDir(dataDir);
      openDatabase({ file }).close();
      ctx.io.stdout.write(existed ? `database ${file} exists already: nothing to do\n` : `created ${file}\n`);
    });
}
