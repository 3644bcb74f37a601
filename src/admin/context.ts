import type { Clock } from '../core/clock.js';
import type { Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import type { CliIo } from './io.js';

/**
 * What every admin command gets: its streams, the relay's configuration (same file and
 * environment overrides as `ferry start`), and the relay's database, opened on first use.
 * Commands throw FerryError; the CLI entry turns it into one line on stderr and an exit code.
 */
export interface CliContext {
  io: CliIo;
  clock: Clock;
  config(): Config;
  db(): Db;
  /** Reads and validates the same file and environment again, uncached (reload on SIGHUP). */
  reloadConfig?(): Config;
}
