import { Command, CommanderError } from 'commander';
import { systemClock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import { loadConfig, type FerryEnv } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openDatabase, type Db } from '../store/db.js';
import { join } from 'node:path';
import type { CliContext } from './context.js';
import type { CliIo } from './io.js';
import { COMMAND_GROUPS } from './groups.js';
import { registerMessagesCommands } from './messages.js';
import { registerStartCommand } from './start.js';
import { registerUsersCommands } from './users.js';
import { VERSION } from './version.js';

export interface CliRuntime {
  io: CliIo;
  env: FerryEnv;
  cwd: string;
  /** Registers the shutdown handler for `ferry start` (process signals in production). */
  onSignal: (handler: (signal: string) => void) => void;
}

/** Exit codes: 0 ok, 1 the command failed (one line on stderr), 2 usage error. */
export async function runCli(argv: string[], rt: CliRuntime): Promise<number> {
  let configFile: string | undefined;
  let config: Config | null = null;
  let db: Db | null = null;
  const ctx: CliContext = {
    io: rt.io,
    clock: systemClock,
    config() {
      config ??= loadConfig({ file: configFile, env: rt.env, cwd: rt.cwd });
      return config;
    },
    db() {
      db ??= openDatabase({ file: join(ctx.config().dataDir, 'ferry.db') });
      return db;
    },
    reloadConfig() {
      return loadConfig({ file: configFile, env: rt.env, cwd: rt.cwd });
    },
  };

  const program = new Command('ferry')
    .description('Ferry: an SMTP relay for outgoing mail')
    .version(VERSION)
    .option('-c, --config <file>', 'configuration file (YAML or JSON); default: $FERRY_CONFIG, else the embedded defaults')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => rt.io.stdout.write(s),
      writeErr: (s) => rt.io.stderr.write(s),
    });
  program.hook('preAction', (cmd) => {
    configFile = (cmd.optsWithGlobals() as { config?: string }).config;
  });

  registerStartCommand(program, ctx, rt.onSignal);
  registerUsersCommands(program, ctx);
  registerMessagesCommands(program, ctx);
  for (const register of COMMAND_GROUPS) register(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof FerryError) {
      rt.io.stderr.write(`ferry: ${err.message}\n`);
      return err.code === 'FERRY_ERR_USAGE' ? 2 : 1;
    }
    rt.io.stderr.write(`ferry: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    try {
      (db as Db | null)?.close();
    } catch {
      // already closed by the command
    }
  }
}
