import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError } from '../core/errors.js';
import { corruptionError, isCorruption } from '../store/integrity.js';

/**
 * The `ferry` command's exit codes (README "Exit codes"):
 * 0 done; 1 the command failed (one line on stderr says why; a bad configuration is one of
 * these); 2 usage error; 3 reload: the relay took the configuration but a restart is needed;
 * 4 the database is corrupt (a config fix will not help: restore or recover it).
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CORRUPT = 4;

export interface Failure {
  /** One line without the "ferry: " prefix; null: end quietly (EPIPE: the reader went away). */
  message: string | null;
  exitCode: number;
}

export interface FailureContext {
  /** The database the command was using, to name it in SQLite's errors (which carry no path). */
  dbFile?: string | null;
  /** This process's user id, for "run as its owner" advice. */
  uid?: number | null;
}

/**
 * Every failure of a command becomes one sentence and an exit code, never a stack trace:
 * FerryError as it says; the file-system and SQLite errors an operator actually meets (a
 * data directory that is a file, under a file, read-only, owned by another user; a corrupt or
 * busy database) in words that say what to do; anything else as its first line.
 */
export function describeFailure(err: unknown, ctx: FailureContext = {}): Failure {
  const sys = systemCause(err);
  if (sys?.code === 'EPIPE') return { message: null, exitCode: EXIT_OK };
  if (isCorruption(err)) {
    const message = err instanceof FerryError && err.code === 'FERRY_ERR_CORRUPT' ? err.message : corruptionError(ctx.dbFile ?? 'database', firstLine(sys?.message ?? String(err))).message;
    return { message, exitCode: EXIT_CORRUPT };
  }
  if (err instanceof FerryError) return { message: err.message, exitCode: err.code === 'FERRY_ERR_USAGE' ? EXIT_USAGE : EXIT_FAILED };
  if (sys) {
    const sentence = sys.path !== undefined ? errnoSentence(sys, ctx) : sqliteSentence(sys, ctx);
    if (sentence) return { message: sentence, exitCode: EXIT_FAILED };
  }
  const e = err as { name?: string; message?: string } | null;
  return { message: `unexpected error: ${firstLine(e?.message ? `${e.name ?? 'Error'}: ${e.message}` : String(err))}`, exitCode: EXIT_FAILED };
}

interface SystemError {
  code: string;
  message: string;
  path?: string;
  syscall?: string;
}

/** The first error in the cause chain that carries a system or SQLite code. */
function systemCause(err: unknown): SystemError | null {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('FERRY_ERR_')) {
      const x = e as { message?: string; path?: string; syscall?: string };
      return { code, message: x.message ?? code, path: x.path, syscall: x.syscall };
    }
  }
  return null;
}

const ACT: Record<string, string> = {
  mkdir: 'create the directory',
  open: 'open',
  stat: 'look at',
  chmod: 'change the mode of',
  rename: 'rename',
  unlink: 'remove',
  scandir: 'list',
  read: 'read',
  write: 'write',
};

function errnoSentence(e: SystemError, ctx: FailureContext): string | null {
  const path = e.path ?? '';
  const act = ACT[e.syscall ?? ''] ?? 'use';
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied: cannot ${act} ${path}${owner(path, ctx)}: run the command as the user that runs the relay (e.g. sudo -u ferry ferry ...), or fix the directory's owner`;
    case 'EEXIST':
      return `${path} exists and is not a directory: the data directory (dataDir) must be a directory`;
    case 'ENOTDIR':
      return `${path}: part of this path is a file, not a directory: check dataDir`;
    case 'EROFS':
      return `${path} is on a read-only file system: the data directory must be writable`;
    case 'ENOENT':
      return `cannot ${act} ${path}: no such file or directory${e.syscall === 'mkdir' ? ' (its parent does not exist or does not take new directories)' : ''}`;
    case 'ENOSPC':
      return `no space left on the device holding ${path}`;
    case 'EISDIR':
      return `${path} is a directory, not a file`;
    default:
      return null;
  }
}

function sqliteSentence(e: SystemError, ctx: FailureContext): string | null {
  const db = ctx.dbFile ?? 'the database';
  if (e.code.startsWith('SQLITE_READONLY')) {
    return `cannot write ${db}: it is read-only for this user${owner(ctx.dbFile ?? '', ctx)}: run the command as the user that runs the relay (e.g. sudo -u ferry ferry ...)`;
  }
  if (e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED')) {
    return `${db} is busy: another process held its write lock for too long; try again`;
  }
  if (e.code.startsWith('SQLITE_CANTOPEN')) return `cannot open ${db}: ${firstLine(e.message)}`;
  if (e.code === 'SQLITE_FULL') return `cannot write ${db}: the disk is full`;
  if (e.code.startsWith('SQLITE_IOERR')) return `cannot read or write ${db}: input/output error (${e.code}): check the disk`;
  if (e.code.startsWith('SQLITE_')) return `${db}: ${firstLine(e.message)} (${e.code})`;
  return null;
}

/**
 * " (owned by uid N; this is uid M)" when the path, or else its directory (a file inside a
 * directory we may not enter cannot be looked at), belongs to someone else.
 */
function owner(path: string, ctx: FailureContext): string {
  if (!path || ctx.uid === undefined || ctx.uid === null) return '';
  for (const p of [path, dirname(path)]) {
    try {
      const st = statSync(p);
      return st.uid !== ctx.uid ? ` (owned by uid ${st.uid}; this is uid ${ctx.uid})` : '';
    } catch {
      // try the directory
    }
  }
  return '';
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
