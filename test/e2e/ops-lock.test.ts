import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runFerry, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { waitFor } from '../helpers/bounce.js';
import { existsSync } from 'node:fs';
import { testCert } from '../helpers/tls.js';

/** The process-wide test certificate where Ferry keeps its generated one (RSA generation is slow). */
function seedTls(dataDir: string): void {
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
}

/**
 * One relay per data directory: the first holds an OS lock on dataDir/ferry.lock; a second
 * `ferry start` there refuses with one line before it touches anything (it used to start with a
 * warning, overwrite the pid file, and remove it when it exited, so `ferry reload` said "not
 * running" while `ferry status` said running). The lock dies with its process, even by kill -9.
 */
t.test('a second relay on the same data directory refuses with one line; the pid file stays the holder\'s; reload and status agree', async (t) => {
  const dataDir = tempDir(t);
  seedTls(dataDir);
  const env = { FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: '127.0.0.1:0', FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` };
  const children: RunningFerry[] = [];
  t.teardown(async () => {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
    }
  });
  const first = await startFerryProcess(env);
  children.push(first);
  const pidFile = join(dataDir, 'ferry.pid');
  // Written just after the "ferry started" line.
  await waitFor(() => existsSync(pidFile), 10_000, 'the pid file');
  t.equal(readFileSync(pidFile, 'utf8'), `${first.child.pid}\n`);

  const second = await runFerry(['start'], { env: { ...env, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` } });
  t.equal(second.code, 1, 'the second relay exits 1');
  t.equal(second.stdout, '', 'it logged nothing: it did not start');
  t.equal(second.stderr, `ferry: another relay is running on the data directory ${dataDir} (pid ${first.child.pid}): it holds ${join(dataDir, 'ferry.lock')}; stop it first, or give this one its own dataDir\n`);
  t.equal(readFileSync(pidFile, 'utf8'), `${first.child.pid}\n`, 'the pid file still names the holder');

  const status = await runFerry(['status'], { env });
  t.equal(status.code, 0, 'status: running');
  t.match(status.stdout, new RegExp(`^relay\\s+running \\(pid ${first.child.pid}\\)$`, 'm'));
  const reload = await runFerry(['reload'], { env });
  t.equal(reload.code, 0, `reload finds the relay too: ${reload.stderr}`);
  t.match(reload.stdout, new RegExp(`relay \\(pid ${first.child.pid}\\)`));

  // kill -9: no code runs, the kernel drops the lock; the next start takes it.
  first.child.kill('SIGKILL');
  await first.exited;
  const after = await runFerry(['status', '--json'], { env });
  t.equal(JSON.parse(after.stdout).lock, 'free', 'the lock went with the process');
  const third = await startFerryProcess(env);
  children.push(third);
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') === `${third.child.pid}\n`, 10_000, 'the new pid file');
  t.equal(readFileSync(pidFile, 'utf8'), `${third.child.pid}\n`, 'the new holder writes its pid');
});
