import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { openDatabase } from '../../src/store/db.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { REPO_ROOT, cliEnv, runFerry, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

/**
 * Every failure of the `ferry` command is one line on stderr and an exit code, never a stack
 * trace: the data directory is a file, under a file, not writable, owned by another user;
 * the reader of a long listing goes away (EPIPE: quiet, status 0); the database header is not
 * a database; the data directory cannot be created at all (/proc/x: Node's recursive mkdir
 * looped there forever).
 */
function oneLine(t: Tap.Test, r: CliResult, what: string, code = 1): string {
  t.equal(r.code, code, `${what}: exit ${code}`);
  t.equal(r.stderr.split('\n').length, 2, `${what}: exactly one line on stderr`);
  t.notMatch(r.stderr, /\n\s+at |Error:|SqliteError/, `${what}: no stack trace, no raw error name`);
  t.match(r.stderr, /^ferry: /, `${what}: starts with "ferry: "`);
  return r.stderr;
}

const START_ENV = { FERRY_SMTP_LISTEN: '127.0.0.1:0', FERRY_HTTP_LISTEN: '' };

t.test('the data directory is a file, or under a file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  let err = oneLine(t, await runFerry(['start'], { env: { ...START_ENV, FERRY_DATA_DIR: file } }), 'start, data dir is a file');
  t.match(err, `${file} exists and is not a directory`);
  err = oneLine(t, await runFerry(['start'], { env: { ...START_ENV, FERRY_DATA_DIR: join(file, 'data') } }), 'start, data dir under a file');
  t.match(err, 'part of this path is a file, not a directory');
  err = oneLine(t, await runFerry(['init'], { env: { FERRY_DATA_DIR: join(file, 'data') } }), 'init, data dir under a file');
  t.match(err, 'part of this path is a file');
  err = oneLine(t, await runFerry(['users', 'list'], { env: { FERRY_DATA_DIR: file } }), 'users list, data dir is a file');
  t.match(err, 'no Ferry database at');
});

t.test('FERRY_DATA_DIR=/proc/x: ferry start fails at once with one line (it looped on mkdir forever)', async (t) => {
  const r = await runFerry(['start'], { env: { ...START_ENV, FERRY_DATA_DIR: '/proc/ferry-test/data' }, timeoutMs: 20_000 });
  const err = oneLine(t, r, 'start under /proc');
  t.match(err, 'cannot create the directory /proc/ferry-test');
});

const canChattr = spawnSync('chattr', ['--help']).error === undefined;
const canSetpriv = spawnSync('setpriv', ['--version']).status === 0 && process.getuid?.() === 0;

t.test('the data directory is not writable (immutable: even root cannot write it)', { skip: canChattr ? false : 'chattr is not installed' }, async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const set = spawnSync('chattr', ['+i', dataDir]);
  if (set.status !== 0) return t.skip(`chattr +i does not work on this file system: ${set.stderr.toString().trim()}`);
  t.teardown(() => void spawnSync('chattr', ['-i', dataDir]));
  const err = oneLine(t, await runFerry(['start'], { env: { ...START_ENV, FERRY_DATA_DIR: dataDir } }), 'start, immutable data dir');
  t.match(err, `permission denied: cannot open ${join(dataDir, 'ferry.lock')}`);
});

t.test('the data directory belongs to another user (run as nobody)', { skip: canSetpriv ? false : 'needs root and setpriv to run the command as another user' }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  t.equal((await runFerry(['init'], { env: { FERRY_DATA_DIR: dataDir } })).code, 0);
  // env -u NODE_OPTIONS: tap's process-info hook, which the runner adds to every child, would
  // try to write its report into the test's directory as nobody.
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS'];
  const cwd = '/';

  // 0700 (as Ferry makes it): another user cannot even look inside.
  let err = oneLine(t, await runFerry(['start'], { env: { ...START_ENV, FERRY_DATA_DIR: dataDir }, wrap: asNobody, cwd }), 'start as nobody');
  t.match(err, /permission denied: cannot .* \(owned by uid 0; this is uid 65534\): run the command as the user that runs the relay/);
  err = oneLine(t, await runFerry(['suppressions', 'list'], { env: { FERRY_DATA_DIR: dataDir }, wrap: asNobody, cwd }), 'suppressions list as nobody');

  // Readable but not writable: SQLite's "attempt to write a readonly database".
  chmodSync(dataDir, 0o755);
  chmodSync(join(dataDir, 'ferry.db'), 0o644);
  err = oneLine(t, await runFerry(['suppressions', 'add', 'bob@example.com'], { env: { FERRY_DATA_DIR: dataDir }, wrap: asNobody, cwd }), 'suppressions add as nobody');
  t.match(err, /ferry\.db/, 'names the database');
  t.match(err, /run the command as the user that runs the relay/);

  // A directory nobody owns, under one nobody cannot write: mkdir EACCES.
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs, { mode: 0o755 });
  chownSync(theirs, 0, 0);
  err = oneLine(t, await runFerry(['init'], { env: { FERRY_DATA_DIR: join(theirs, 'data') }, wrap: asNobody, cwd }), 'init as nobody');
  t.match(err, `permission denied: cannot create the directory ${join(theirs, 'data')}`);
});

t.test('a corrupt database header: one line, exit 4, pointing at the recovery section', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  t.equal((await runFerry(['init'], { env: { FERRY_DATA_DIR: dataDir } })).code, 0);
  const fd = openSync(join(dataDir, 'ferry.db'), 'r+');
  writeSync(fd, Buffer.alloc(100, 0x5a), 0, 100, 0);
  closeSync(fd);
  for (const args of [['users', 'list'], ['suppressions', 'add', 'bob@example.com'], ['start']]) {
    const err = oneLine(t, await runFerry(args, { env: { ...START_ENV, FERRY_DATA_DIR: dataDir } }), args.join(' '), 4);
    t.match(err, /ferry\.db is corrupt \(.*not a database.*\).*README "Recovering from a corrupt database"/);
  }
});

t.test('a listing piped into a reader that goes away (| head -1): no output on stderr, status 0', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const list = testSuppressions(db);
  db.transaction(() => {
    for (let i = 0; i < 50_000; i++) list.suppress(`user${i}@example.com`, 'user_unknown', 'a reason long enough to fill the pipe quickly', 'manual');
  })();
  db.close();
  const child = spawn(process.execPath, ['bin/ferry', 'suppressions', 'export'], { cwd: REPO_ROOT, env: cliEnv({ FERRY_DATA_DIR: dataDir }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Like `head -1`: read the first chunk, then close the reading end of the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.equal(stderr, '', 'nothing on stderr');
  t.equal(code, 0, 'status 0, like other Unix tools');
});
