import t from 'tap';
import { chmodSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/admin/cli.js';
import { registerBackupCommand } from '../../src/admin/backup.js';
import { makeDirectory, prepareDataDir } from '../../src/core/data-dir.js';
import { dataDirLockState, lockDataDir } from '../../src/ops/data-dir-lock.js';
import { makeProgram } from '../sign/fixtures/helpers.js';
import { cliFor } from '../ops/fixtures/seed.js';
import { tempDir } from '../helpers/relay.js';

/** In-process companions of test/e2e/ops-*.test.ts (the child processes there are not measured for coverage). */

async function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = '/') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, { io: { stdout, stderr, stdin: new PassThrough(), isTTY: false }, env: { FERRY_DEFAULT_CONFIG: '', ...env }, cwd, onSignal: () => undefined });
  return { code, out, err };
}

t.test('makeDirectory: one level at a time, 0700; a file in the way is named', async (t) => {
  const dir = tempDir(t);
  makeDirectory(join(dir, 'a', 'b', 'c'));
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'a', 'b', 'c')).mode & 0o777, 0o700);
  makeDirectory(join(dir, 'a', 'b', 'c'));
  writeFileSync(join(dir, 'file'), 'x');
  t.throws(() => makeDirectory(join(dir, 'file')), { code: 'EEXIST', path: join(dir, 'file') });
  t.throws(() => makeDirectory(join(dir, 'file', 'under')), { code: 'ENOTDIR' });
  t.throws(() => makeDirectory('/proc/ferry-unit-test/x'), { code: 'ENOENT', syscall: 'mkdir', path: '/proc/ferry-unit-test' });
  mkdirSync(join(dir, 'loose'), { mode: 0o755 });
  chmodSync(join(dir, 'loose'), 0o755);
  prepareDataDir(join(dir, 'loose'));
  t.equal(statSync(join(dir, 'loose')).mode & 0o777, 0o700, 'prepareDataDir tightens an existing directory');
});

t.test('the data directory lock: one holder; the state is visible; released on release()', async (t) => {
  const dir = tempDir(t);
  t.equal(dataDirLockState(dir), 'free', 'no lock file: free');
  const lock = lockDataDir(dir);
  t.equal(dataDirLockState(dir), 'held');
  t.throws(() => lockDataDir(dir, () => 4242), { code: 'FERRY_ERR_LOCKED', message: `another relay is running on the data directory ${dir} (pid 4242): it holds ${join(dir, 'ferry.lock')}; stop it first, or give this one its own dataDir` });
  t.throws(() => lockDataDir(dir), { code: 'FERRY_ERR_LOCKED', message: /data directory \S+: it holds/ });
  lock.release();
  lock.release();
  t.equal(dataDirLockState(dir), 'free');
  const again = lockDataDir(dir);
  again.release();
  t.throws(() => lockDataDir(join(dir, 'missing')), { code: 'ENOENT' });
});

t.test('through runCli: no database → one line with where dataDir came from; init creates it', async (t) => {
  const dir = tempDir(t);
  let r = await cli(['users', 'list'], {}, dir);
  t.equal(r.code, 1);
  t.equal(r.err, `ferry: no Ferry database at ${join(dir, 'data', 'ferry.db')} (no configuration file: the default dataDir ./data under ${dir}): point this command at the relay's data with --config FILE, FERRY_CONFIG=FILE or FERRY_DATA_DIR=DIR (ferry start or ferry init creates one)\n`);
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, `dataDir: ${join(dir, 'd')}\n`);
  r = await cli(['-c', file, 'users', 'list'], {}, dir);
  t.match(r.err, `(dataDir from ${file})`);
  r = await cli(['users', 'list'], { FERRY_DEFAULT_CONFIG: file }, dir);
  t.match(r.err, `(dataDir from ${file})`, 'the default file');
  r = await cli(['users', 'list'], { FERRY_DATA_DIR: join(dir, 'e') }, dir);
  t.match(r.err, '(dataDir from FERRY_DATA_DIR)');
  t.notOk(existsSync(join(dir, 'data')) || existsSync(join(dir, 'd')) || existsSync(join(dir, 'e')), 'nothing created');

  r = await cli(['-c', file, 'init'], {}, dir);
  t.same(r, { code: 0, out: `created ${join(dir, 'd', 'ferry.db')}\n`, err: '' });
  r = await cli(['-c', file, 'init'], {}, dir);
  t.match(r.out, 'exists already');
  r = await cli(['-c', file, 'users', 'list'], {}, dir);
  t.equal(r.code, 0);
  r = await cli(['-c', file, 'status', '--json'], {}, dir);
  t.equal(r.code, 1, 'not running');
  t.match(JSON.parse(r.out), { lock: 'free', database: { ok: true, check: 'quick_check' } });
  r = await cli(['-c', file, 'reload'], {}, dir);
  t.match(r.err, /not running \(no pid file/);
  const lock = lockDataDir(join(dir, 'd'));
  t.teardown(() => lock.release());
  r = await cli(['-c', file, 'reload'], {}, dir);
  t.match(r.err, /a relay holds the data directory .* but its pid file .* is missing/);
  r = await cli(['-c', file, 'start'], {}, dir);
  t.equal(r.code, 1);
  t.match(r.err, /^ferry: another relay is running on the data directory/);
});

t.test('backup refusals: the live files by any path, companions beside FILE, an existing FILE.tmp', async (t) => {
  const dir = tempDir(t);
  const c = cliFor(dir, { http: { listen: null } });
  t.teardown(() => c.close());
  c.ctx.db();
  const run = async (...args: string[]) => {
    const program = makeProgram();
    registerBackupCommand(program, c.ctx);
    await program.parseAsync(args, { from: 'user' });
  };
  const out = tempDir(t);
  symlinkSync(dir, join(out, 'link'));
  await t.rejects(run('backup', join(out, 'link', 'ferry.db')), { code: 'FERRY_ERR_USAGE', message: /is the live database or one of its files/ });
  await t.rejects(run('backup', join(out, 'link', 'ferry.db-journal'), '--force'), { code: 'FERRY_ERR_USAGE' }, 'a live file that does not exist yet');
  writeFileSync(join(out, 'b.db-wal'), 'x');
  await t.rejects(run('backup', join(out, 'b.db')), { code: 'FERRY_ERR_EXISTS', message: /b\.db-wal exists: a database at .* is open or was not closed cleanly/ });
  writeFileSync(join(out, 'c.db.tmp-shm'), 'x');
  await t.rejects(run('backup', join(out, 'c.db')), { code: 'FERRY_ERR_EXISTS', message: /c\.db\.tmp-shm exists \(a backup in progress, or one that was interrupted\)/ });
  t.ok(existsSync(join(out, 'c.db.tmp-shm')), 'left where it was');
  await t.rejects(run('backup', join(out, 'nodir', 'd.db')), { code: 'ENOENT' });
});
