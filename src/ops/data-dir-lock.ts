import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../core/errors.js';
import Database from '../store/sqlite-driver.js';
import { DATA_FILE_MODE } from '../core/data-dir.js';

/**
 * One relay per data directory, enforced by the kernel. Node has no flock(), and no locking
 * package is installed; a lock *file* alone (O_EXCL, mkdir) outlives a kill -9 and needs stale
 * detection by pid, which a recycled pid defeats. SQLite already takes POSIX advisory locks
 * (fcntl) on its files, and the kernel drops those when the process ends, however it ends.
 * So dataDir/ferry.lock is a tiny SQLite database held in locking_mode=EXCLUSIVE: after
 * BEGIN EXCLUSIVE the connection keeps its exclusive lock until it closes or the process dies.
 * A second process (or a second connection in the same process: SQLite checks that itself)
 * gets SQLITE_BUSY. Nothing is ever written to it; journal_mode=MEMORY keeps a -journal file
 * from appearing next to it.
 */
export const LOCK_FILE = 'ferry.lock';

/** How long start-up waits for the lock: long enough for a `ferry status` probe to let go. */
const ACQUIRE_WAIT_MS = 1000;

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

export function lockFilePath(dataDir: string): string {
  return join(dataDir, LOCK_FILE);
}

/** Takes the data directory for this process, or throws FERRY_ERR_LOCKED (another relay runs on it). */
export function lockDataDir(dataDir: string, holderPid: () => number | null = () => null): DataDirLock {
  const file = lockFilePath(dataDir);
  closeSync(openSync(file, 'a', DATA_FILE_MODE));
  const db = new Database(file, { timeout: ACQUIRE_WAIT_MS });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    const pid = holderPid();
    throw new FerryError(
      'FERRY_ERR_LOCKED',
      `another relay is running on the data directory ${dataDir}${pid ? ` (pid ${pid})` : ''}: it holds ${file}; stop it first, or give this one its own dataDir`,
      { cause: err },
    );
  }
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      db.close();
    },
  };
}

/**
 * Is a relay holding the data directory right now? 'held' / 'free'; 'unknown' when the lock
 * file cannot be read by this user. Takes a shared lock for an instant, never writes.
 */
export function dataDirLockState(dataDir: string): 'held' | 'free' | 'unknown' {
  const file = lockFilePath(dataDir);
  let db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'SQLITE_CANTOPEN' && !canOpen(file) ? 'free' : 'unknown';
  }
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return 'free';
  } catch (err) {
    return (err as { code?: string }).code === 'SQLITE_BUSY' ? 'held' : 'unknown';
  } finally {
    db.close();
  }
}

/** false: the file does not exist (never locked here); true: it exists but cannot be opened. */
function canOpen(file: string): boolean {
  try {
    closeSync(openSync(file, 'r'));
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
