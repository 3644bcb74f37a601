import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FerryError } from './errors.js';

/** The data directory holds password hashes, DKIM keys and message bodies: its owner only. */
export const DATA_DIR_MODE = 0o700;
/** The database, its WAL and shared-memory files, spool files and backups. */
export const DATA_FILE_MODE = 0o600;

/**
 * Creates `dir` (and missing parents) one level at a time, each new level with mode 0700.
 * Not mkdirSync({ recursive: true }): on a path under /proc (mkdir answers ENOENT for a parent
 * that exists) Node's recursive mkdir retries forever, at full CPU, deaf to signals. Any
 * failure is thrown as the system error (EACCES, ENOTDIR, EEXIST, EROFS...) with its path.
 */
export function makeDirectory(dir: string, mode = DATA_DIR_MODE): void {
  const path = resolve(dir);
  const missing: string[] = [];
  let cur = path;
  for (;;) {
    const kind = kindOf(cur);
    if (kind === 'dir') break;
    if (kind === 'other') throw errnoError('EEXIST', 'mkdir', cur, 'file already exists and is not a directory');
    missing.push(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level, { mode });
    } catch (err) {
      // Made meanwhile by someone else (another command starting at the same moment): fine.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && kindOf(level) === 'dir') continue;
      throw err;
    }
  }
}

/**
 * `ferry start`: the data directory exists, is a directory, and is 0700 whatever the umask
 * (mkdir's mode is masked by the umask, and an existing directory keeps its mode unless told).
 */
export function prepareDataDir(dir: string): void {
  makeDirectory(dir);
  const st = statSync(dir);
  if ((st.mode & 0o777) !== DATA_DIR_MODE) {
    try {
      chmodSync(dir, DATA_DIR_MODE);
    } catch (err) {
      // Owned by someone else: the open that follows says so in its own words.
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  }
}

function kindOf(path: string): 'dir' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    // ENOTDIR (a parent is a file), EACCES (a parent we may not search): say so, not "missing".
    throw err;
  }
}

function errnoError(code: string, syscall: string, path: string, text: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${text}, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** A FerryError for a command that needs the relay's database where there is none. */
export function noDatabaseError(file: string, source?: string): FerryError {
  return new FerryError(
    'FERRY_ERR_NO_DATA',
    `no Ferry database at ${file}${source ? ` (${source})` : ''}: point this command at the relay's data with --config FILE, FERRY_CONFIG=FILE or FERRY_DATA_DIR=DIR (ferry start or ferry init creates one)`,
  );
}
