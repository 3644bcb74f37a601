import type BetterSqlite3 from 'better-sqlite3';
import Database from './sqlite-driver.js';
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError, errorMessage } from '../core/errors.js';
import { DATA_FILE_MODE, makeDirectory, noDatabaseError } from '../core/data-dir.js';
import { corruptionError, isCorruption, startupCheck } from './integrity.js';
import { MIGRATIONS } from './migrations/index.js';

export type Db = BetterSqlite3.Database;

export interface OpenOptions {
  /** Path of the SQLite file; ':memory:' is refused outside tests because it is not durable. */
  file: string;
  readonly?: boolean;
  /**
   * false: the database must exist already. Admin commands open with false: one pointed at the
   * wrong place must not create an empty database there and report success on it.
   */
  create?: boolean;
  /** Run PRAGMA quick_check before anything else touches the file (`ferry start`); see integrity.ts. */
  checkIntegrity?: boolean;
}

/**
 * Opens the database with the settings every writer needs: WAL so readers (the CLI) never block
 * the relay, synchronous=FULL so a commit is on disk when it returns (the 250 promise), and a
 * busy timeout so a second process (the CLI, another node) waits instead of failing.
 * The file, its WAL and its shared-memory file are 0600 whatever the umask: SQLite gives the
 * -wal and -shm files the mode of the database file, so the database is created 0600 first.
 */
export function openDatabase(options: OpenOptions): Db {
  const { file } = options;
  const create = options.create ?? true;
  if (file !== ':memory:') {
    if (create) {
      makeDirectory(dirname(file));
      closeSync(openSync(file, 'a', DATA_FILE_MODE));
      for (const f of [file, `${file}-wal`, `${file}-shm`]) restrictMode(f);
    } else if (!existsSync(file)) {
      throw noDatabaseError(file);
    }
  }
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: !create });
  } catch (err) {
    throw new FerryError('FERRY_ERR_STORE', `cannot open database ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (options.checkIntegrity && file !== ':memory:') startupCheck(db, file, statSync(file).size);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      // Checkpoints run inside whichever commit crosses the threshold (about 40 MB of WAL: the
      // many rewrites of the same queue pages coalesce before they are copied back). The relay's
      // writer thread has them made beside its commits by a checkpointer thread long before
      // (sqlite/checkpoint-thread.ts); for it this is only the bound on the WAL's size.
      db.pragma('wal_autocheckpoint = 10000');
      migrate(db);
    }
  } catch (err) {
    db.close();
    // "file is not a database" comes from the first statement that reads the header.
    if (isCorruption(err) && !(err instanceof FerryError)) throw corruptionError(file, errorMessage(err), err);
    throw err;
  }
  return db;
}

/** chmod 0600 when the file exists with another mode; a file we do not own is left as it is. */
function restrictMode(file: string): void {
  try {
    if ((statSync(file).mode & 0o777) !== DATA_FILE_MODE) chmodSync(file, DATA_FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EPERM') throw err;
  }
}

/** Applies numbered migrations in order, each in its own transaction; records the version. */
export function migrate(db: Db): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  let latest = 0;
  const versions = new Set<number>();
  for (const m of MIGRATIONS) {
    if (versions.has(m.version)) throw new FerryError('FERRY_ERR_STORE', `duplicate migration version ${m.version}`);
    versions.add(m.version);
  }
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    latest = m.version;
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.up);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
  return latest;
}

/**
 * Runs `fn` (a transaction, or a single statement) with synchronous=NORMAL: in WAL mode the
 * commit survives a crash of the process (kill -9) but not a power cut, and costs no fsync.
 * Only for writes whose loss on power failure is repaired by at-least-once delivery: claims,
 * delivery outcomes (a lost "delivered" means one redelivery), signing. Intake — the 250
 * promise — always commits with synchronous=FULL, and its fsync also makes every relaxed
 * commit before it durable.
 */
export function relaxedDurability<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return fn();
  db.pragma('synchronous = NORMAL');
  try {
    return fn();
  } finally {
    db.pragma('synchronous = FULL');
  }
}

/**
 * Makes every transaction this connection starts with db.transaction() begin IMMEDIATE (take the
 * write lock first) instead of DEFERRED. Needed while a second connection writes the same file
 * (the writer thread): a deferred transaction that reads, then writes after the other connection
 * committed, fails at once with SQLITE_BUSY_SNAPSHOT (its snapshot is stale; busy_timeout cannot
 * help), whereas BEGIN IMMEDIATE waits for the lock under busy_timeout. Transitional: the relay's
 * main-thread connection keeps writing only until every write goes through the Store.
 */
export function immediateTransactions(db: Db): Db {
  const original = db.transaction.bind(db);
  db.transaction = ((fn: (...args: never[]) => unknown) => {
    const tx = original(fn);
    const run = (...args: never[]) => tx.immediate(...args);
    return Object.assign(run, { default: tx.immediate, deferred: tx.deferred, immediate: tx.immediate, exclusive: tx.exclusive });
  }) as Db['transaction'];
  return db;
}
