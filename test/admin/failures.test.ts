import t from 'tap';
import { join } from 'node:path';
import { describeFailure } from '../../src/admin/failures.js';
import { FerryError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/relay.js';

function sysErr(code: string, syscall?: string, path?: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: something, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  e.code = code;
  if (syscall) e.syscall = syscall;
  if (path) e.path = path;
  return e;
}

function sqliteErr(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: 'SqliteError', code });
}

/** Each error an operator meets becomes one sentence and an exit code (the e2e tests drive the real ones). */
t.test('known system and SQLite errors: one sentence each, exit codes', async (t) => {
  const dir = tempDir(t);
  const ctx = { dbFile: join(dir, 'ferry.db'), uid: 4242 };
  const cases: [unknown, number, RegExp | null][] = [
    [sysErr('EPIPE', 'write'), 0, null],
    [sysErr('EACCES', 'open', join(dir, 'x')), 1, /^permission denied: cannot open .*\/x \(owned by uid \d+; this is uid 4242\): run the command as the user/],
    [sysErr('EPERM', 'chmod', dir), 1, /^permission denied: cannot change the mode of /],
    [sysErr('EEXIST', 'mkdir', '/x/f'), 1, /^\/x\/f exists and is not a directory/],
    [sysErr('ENOTDIR', 'stat', '/x/f/d'), 1, /^\/x\/f\/d: part of this path is a file/],
    [sysErr('EROFS', 'open', '/ro/d'), 1, /^\/ro\/d is on a read-only file system/],
    [sysErr('ENOENT', 'mkdir', '/proc/x'), 1, /^cannot create the directory \/proc\/x: no such file or directory \(its parent/],
    [sysErr('ENOENT', 'open', '/nope'), 1, /^cannot open \/nope: no such file or directory$/],
    [sysErr('ENOSPC', 'write', '/full'), 1, /^no space left on the device holding \/full/],
    [sysErr('EISDIR', 'open', '/d'), 1, /^\/d is a directory, not a file/],
    [sysErr('EWEIRD', 'open', '/d'), 1, /^unexpected error: Error: EWEIRD/],
    [sqliteErr('SQLITE_READONLY', 'attempt to write a readonly database'), 1, /^cannot write .*ferry\.db: it is read-only for this user.*: run the command as the user/],
    [sqliteErr('SQLITE_BUSY', 'database is locked'), 1, /ferry\.db is busy: another process held its write lock/],
    [sqliteErr('SQLITE_CANTOPEN', 'unable to open database file'), 1, /^cannot open .*ferry\.db: unable to open database file/],
    [sqliteErr('SQLITE_FULL', 'database or disk is full'), 1, /the disk is full/],
    [sqliteErr('SQLITE_IOERR_WRITE', 'disk I/O error'), 1, /input\/output error \(SQLITE_IOERR_WRITE\)/],
    [sqliteErr('SQLITE_MISUSE', 'bad use'), 1, /ferry\.db: bad use \(SQLITE_MISUSE\)/],
    [sqliteErr('SQLITE_CORRUPT', 'database disk image is malformed'), 4, /ferry\.db is corrupt \(database disk image is malformed\).*README "Recovering from a corrupt database"/],
    [sqliteErr('SQLITE_NOTADB', 'file is not a database'), 4, /is corrupt \(file is not a database\)/],
    [new FerryError('FERRY_ERR_STORE', 'wrapped', { cause: sqliteErr('SQLITE_CORRUPT', 'malformed') }), 4, /is corrupt \(malformed\)/],
    [new FerryError('FERRY_ERR_USAGE', 'bad flag'), 2, /^bad flag$/],
    [new FerryError('FERRY_ERR_NOT_FOUND', 'no such thing'), 1, /^no such thing$/],
    ['a string', 1, /^unexpected error: a string$/],
    [new TypeError('x is not a function\n    at somewhere'), 1, /^unexpected error: TypeError: x is not a function$/],
  ];
  for (const [err, code, message] of cases) {
    const f = describeFailure(err, ctx);
    const what = (err as { code?: string }).code ?? String(err);
    t.equal(f.exitCode, code, `${what}: exit ${code}`);
    if (message === null) t.equal(f.message, null, `${what}: quiet`);
    else {
      t.match(f.message, message, what);
      t.notMatch(f.message, /\n/, `${what}: one line`);
    }
  }
  t.match(describeFailure(sqliteErr('SQLITE_READONLY', 'ro'), {}).message, /^cannot write the database: /, 'without a database path');
});
