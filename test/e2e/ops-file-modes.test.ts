import t from 'tap';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runFerry, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { waitFor } from '../helpers/bounce.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { tempDir } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';

// The children inherit it: the usual umask, under which files used to come out 0644.
process.umask(0o022);

const mode = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;

/**
 * The data directory holds password hashes, DKIM keys and message bodies: it is 0700, and the
 * database, its WAL and SHM, spool files and backups are 0600, whatever the umask.
 */
t.test('umask 022: data directory 0700, database, WAL, SHM and spool files 0600', async (t) => {
  const dir = tempDir(t);
  const fresh = join(dir, 'fresh', 'data');
  const init = await runFerry(['init'], { env: { FERRY_DATA_DIR: fresh } });
  t.equal(init.code, 0);
  t.equal(mode(join(dir, 'fresh')), '0700', 'a created parent: 0700');
  t.equal(mode(fresh), '0700', 'a created data directory: 0700');
  t.equal(mode(join(fresh, 'ferry.db')), '0600');

  // An existing data directory as `mkdir -p` leaves it (Docker's /data): the relay closes it.
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  chmodSync(dataDir, 0o755);
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
  const configFile = join(dir, 'ferry.yaml');
  // Bodies over 10 bytes go to spool files; deliveries go to a closed port and wait.
  writeFileSync(configFile, `hostname: ferry.test\nspool:\n  inlineMaxBytes: 10\nroutes:\n  "*": 127.0.0.1:${await freePort()}\n`);
  const port = await freePort();
  const env = { FERRY_CONFIG: configFile, FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${port}`, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` };
  const relay: RunningFerry = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill('SIGKILL');
    await relay.exited;
  });
  const c = await rawSession(port);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<someone@example.net>'), /^250/);
  t.match(await c.command('DATA'), /^354/);
  t.match(await c.command(`Subject: modes\r\n\r\n${'a body longer than ten bytes\r\n'.repeat(20)}.`), /^250/);

  t.equal(mode(dataDir), '0700', 'the data directory');
  for (const f of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm', 'ferry.lock']) t.equal(mode(join(dataDir, f)), '0600', f);
  t.equal(mode(join(dataDir, 'spool')), '0700', 'the spool directory');
  const spooled = readdirSync(join(dataDir, 'spool'));
  t.equal(spooled.length, 1, 'the body is a spool file');
  t.equal(mode(join(dataDir, 'spool', spooled[0]!)), '0600', 'the spool file');

  // Backups: 0600, nothing left beside them.
  const out = join(dir, 'backups');
  mkdirSync(out);
  const backup = await runFerry(['backup', join(out, 'ferry-backup.db')], { env });
  t.equal(backup.code, 0, backup.stderr);
  t.equal(mode(join(out, 'ferry-backup.db')), '0600', 'the backup');
  t.same(readdirSync(out), ['ferry-backup.db'], 'no FILE.tmp, FILE.tmp-wal or FILE.tmp-shm left behind');
});

t.test('backup never deletes what it did not make, and compares files, not path strings', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
  const port = await freePort();
  const env = { FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${port}`, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` };
  const relay: RunningFerry = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill('SIGKILL');
    await relay.exited;
  });
  const c = await rawSession(port);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<someone@example.net>'), /^250/);
  t.match(await c.command('DATA'), /^354/);
  const queued = /queued as (\S+)/.exec(await c.command('Subject: keep me\r\n\r\nhello\r\n.'))?.[1];
  t.ok(queued, 'a message accepted');

  // Someone's FILE.tmp: an error, left as it was.
  const out = join(dir, 'out');
  mkdirSync(out);
  writeFileSync(join(out, 'copy.db.tmp'), 'not ours');
  const r = await runFerry(['backup', join(out, 'copy.db')], { env });
  t.equal(r.code, 1);
  t.equal(r.stderr.split('\n').length, 2, 'one line');
  t.match(r.stderr, `${join(out, 'copy.db.tmp')} exists`);
  t.equal(readFileSync(join(out, 'copy.db.tmp'), 'utf8'), 'not ours', 'FILE.tmp untouched');
  t.notOk(existsSync(join(out, 'copy.db')));

  // The live files through a symlinked directory, with --force: refused, the WAL untouched.
  const link = join(dir, 'link');
  symlinkSync(dataDir, link);
  const wal = join(dataDir, 'ferry.db-wal');
  await waitFor(() => existsSync(wal), 5000, 'the WAL');
  const before = statSync(wal);
  for (const name of ['ferry.db-wal', 'ferry.db', 'ferry.db-shm']) {
    const live = await runFerry(['backup', join(link, name), '--force'], { env });
    t.equal(live.code, 2, `${name} through a symlink: refused`);
    t.match(live.stderr, /is the live database or one of its files/);
  }
  const after = statSync(wal);
  t.equal(after.ino, before.ino, 'the live WAL is the same file');
  t.ok(after.size >= before.size, 'and was not replaced by a copy');
  const list = await runFerry(['messages', 'show', queued!], { env });
  t.equal(list.code, 0, 'the accepted message is still there');
  t.same(readdirSync(dataDir).filter((f) => f.includes('.tmp')), [], 'no temp file in the data directory');
});
