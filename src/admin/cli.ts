import { Command, CommanderError } from 'commander';
import { systemClock } from '../core/clock.js';
import { configFileFor, DEFAULT_CONFIG_FILE, loadConfig, type FerryEnv } from '../config/load.js';
import { noDatabaseError } from '../core/data-dir.js';
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { immediateTransactions, openDatabase, type Db } from '../store/db.js';
import { join } from 'node:path';
import type { CliContext, CliStore } from './context.js';
import { FerryError } from '../core/errors.js';
import { hostname } from 'node:os';
import { createInProcessSqliteStore } from '../store/sqlite/engine.js';
import { openPostgresStore } from '../store/postgres/engine.js';
import type { CliIo } from './io.js';
import { COMMAND_GROUPS } from './groups.js';
import { registerMessagesCommands } from './messages.js';
import { registerStartCommand, type RelayLoader } from './start.js';
import { registerInitCommand } from './init.js';
import { describeFailure, EXIT_OK, EXIT_USAGE } from './failures.js';
import { registerUsersCommands } from './users.js';
import { registerTlsCommands } from './tls.js';
import { VERSION } from '../core/version.js';

export interface CliRuntime {
  io: CliIo;
  env: FerryEnv;
  cwd: string;
  /** Registers the shutdown handler for `ferry start` (process signals in production). */
  onSignal: (handler: (signal: string) => void) => void;
  /** Ends the process now (`ferry start` on a second SIGTERM/SIGINT); default: process.exit. */
  exit?: (code: number) => void;
  /** The relay `ferry start` runs (the process entry passes the composition root's factory). */
  relay?: RelayLoader;
}

/** Exit codes (see failures.ts): 0 ok, 1 the command failed (one line on stderr), 2 usage error, 4 corrupt database. */
export async function runCli(argv: string[], rt: CliRuntime): Promise<number> {
  let configFile: string | undefined;
  let config: Config | null = null;
  let db: Db | null = null;
  let dbFile: string | null = null;
  let store: Promise<CliStore> | null = null;
  const ctx: CliContext = {
    io: rt.io,
    clock: systemClock,
    config() {
      config ??= loadConfig({ file: configFile, env: rt.env, cwd: rt.cwd });
      return config;
    },
    store() {
      store ??= openStore();
      return store;
    },
    db(what = 'this command') {
      if (ctx.config().store.url) {
        throw new FerryError('FERRY_ERR_USAGE', `${what} works on the SQLite database file in dataDir; this configuration uses the PostgreSQL store (store.url): use the database's own tools`);
      }
      // Never created here: only `ferry start` and `ferry init` create a database.
      dbFile = join(ctx.config().dataDir, 'ferry.db');
      if (!db && !existsSync(dbFile)) throw noDatabaseError(dbFile, dataDirSource(configFile, rt));
      // IMMEDIATE: a running relay's writer thread commits to the same file; a deferred
      // transaction that read before it committed could not write after (SQLITE_BUSY_SNAPSHOT,
      // "database is locked" at once, whatever busy_timeout), where IMMEDIATE waits its turn.
      db ??= immediateTransactions(openDatabase({ file: dbFile, create: false }));
      return db;
    },
    reloadConfig() {
      return loadConfig({ file: configFile, env: rt.env, cwd: rt.cwd });
    },
  };

  async function openStore(): Promise<CliStore> {
    const config = ctx.config();
    if (!config.store.url) {
      const sqlite = createInProcessSqliteStore(ctx.db());
      return sqlite;
    }
    const pg = await openPostgresStore({
      url: config.store.url,
      poolSize: 2,
      nodeName: `${config.store.nodeName ?? hostname()} (ferry admin)`,
      version: VERSION,
      heartbeatMs: config.store.heartbeatMs,
      now: () => ctx.clock.now(),
      // An admin command is not a node: no node row, no heartbeat, no LISTEN, no lease release.
      asNode: false,
    });
    return pg;
  }

  const program = new Command('ferry')
    .description('Ferry: an SMTP relay for outgoing mail')
    .version(VERSION)
    .option('-c, --config <file>', `configuration file (YAML or JSON); default: $FERRY_CONFIG, else ${DEFAULT_CONFIG_FILE} when present, else the embedded defaults`)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => rt.io.stdout.write(s),
      writeErr: (s) => rt.io.stderr.write(s),
    });
  program.hook('preAction', (cmd) => {
    configFile = (cmd.optsWithGlobals() as { config?: string }).config;
  });

  registerStartCommand(program, ctx, rt.onSignal, rt.exit ?? ((code) => process.exit(code)), rt.relay);
  registerInitCommand(program, ctx);
  registerUsersCommands(program, ctx);
  registerMessagesCommands(program, ctx);
  registerTlsCommands(program, ctx);
  for (const register of COMMAND_GROUPS) register(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const failure = describeFailure(err, { dbFile, uid: process.getuid?.() ?? null });
    if (failure.message !== null) rt.io.stderr.write(`ferry: ${failure.message}\n`);
    return failure.exitCode;
  } finally {
    const opened = store as Promise<CliStore> | null;
    if (opened) {
      try {
        await (await opened).close();
      } catch {
        // opening it failed: that error was reported above
      }
    }
    try {
      (db as Db | null)?.close();
    } catch {
      // already closed by the command
    }
  }
}

/** Where dataDir came from, for the one line that says no database is there. */
function dataDirSource(configFile: string | undefined, rt: CliRuntime): string {
  if (rt.env.FERRY_DATA_DIR) return 'dataDir from FERRY_DATA_DIR';
  const file = configFileFor({ file: configFile, env: rt.env, cwd: rt.cwd });
  return file ? `dataDir from ${file}` : `no configuration file: the default dataDir ./data under ${rt.cwd}`;
}
