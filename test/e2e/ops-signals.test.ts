import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../src/ops/pid-file.js';
import { REPO_ROOT, cliEnv, freePort, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { waitFor } from '../helpers/bounce.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { tempDir } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';

function seedTls(dataDir: string): void {
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
}

/** Resolves with the exit, or with 'still running' after ms (the limit is a bound, not a speed claim). */
function exitWithin(p: Promise<{ code: number | null }>, ms: number): Promise<{ code: number | null } | 'still running'> {
  return Promise.race([p, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms).unref())]);
}

/**
 * A second SIGTERM forces the stop: the relay used to log "second signal: exiting at once" and
 * then wait out the whole grace period for a session in DATA. Here the grace is 10 minutes;
 * the test gives the forced exit 20 seconds.
 */
t.test('a second SIGTERM exits at once, whatever the grace period still to run', async (t) => {
  const dataDir = tempDir(t);
  seedTls(dataDir);
  const port = await freePort();
  const configFile = join(dataDir, 'ferry.yaml');
  writeFileSync(configFile, `hostname: ferry.test\nsmtp:\n  shutdownGraceMs: 600000\nroutes:\n  "*": 127.0.0.1:${await freePort()}\n`);
  const relay: RunningFerry = await startFerryProcess({ FERRY_CONFIG: configFile, FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${port}`, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` });
  t.teardown(async () => {
    if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill('SIGKILL');
    await relay.exited;
  });
  await waitFor(() => existsSync(join(dataDir, 'ferry.pid')), 10_000, 'the pid file');

  // A client in the middle of DATA: the first SIGTERM waits for it (up to the grace period).
  const c = await rawSession(port);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<someone@example.net>'), /^250/);
  t.match(await c.command('DATA'), /^354/);
  await c.write('Subject: slow\r\n\r\nhalf a message');

  relay.child.kill('SIGTERM');
  await waitFor(() => relay.lines.some((l) => l.includes('signal received, shutting down')), 10_000, 'the first signal to be taken');
  t.equal(await exitWithin(relay.exited, 1500), 'still running', 'the first SIGTERM drains: the session in DATA keeps it running');
  relay.child.kill('SIGTERM');
  const exit = await exitWithin(relay.exited, 20_000);
  t.not(exit, 'still running', 'the second SIGTERM ended the process (the grace period was 10 minutes)');
  t.same(exit, { code: 1, signal: null }, 'exit status 1: a forced stop');
  t.ok(relay.lines.some((l) => l.includes('second signal: exiting at once')), 'and it said so in its log');
  t.notOk(existsSync(join(dataDir, 'ferry.pid')), 'the pid file is removed');
});

/**
 * `npm start` then SIGTERM to npm (what a process manager that started npm does): npm passes
 * the signal to its script's process, and the script is `exec node bin/ferry start`, so that
 * process is the relay. Before, a shell sat between them: it died and node was left orphaned,
 * still running and holding the ports.
 */
t.test('npm start: SIGTERM to npm stops the relay, no node process is left behind', async (t) => {
  const dataDir = tempDir(t);
  seedTls(dataDir);
  const env = cliEnv({ FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${await freePort()}`, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` });
  const npm = spawn('npm', ['start', '--silent'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const npmExited = new Promise<{ code: number | null }>((resolve) => npm.on('exit', (code) => resolve({ code })));
  const pidFile = join(dataDir, 'ferry.pid');
  let relayPid: number | null = null;
  t.teardown(async () => {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    if (relayPid !== null && processAlive(relayPid)) process.kill(relayPid, 'SIGKILL');
  });
  // npm's prestart may rebuild dist/ first when the sources are newer.
  await waitFor(() => existsSync(pidFile) && out.includes('"msg":"ferry started"'), 90_000, `the relay under npm to start: ${out}`);
  relayPid = Number(readFileSync(pidFile, 'utf8').trim());
  t.not(relayPid, npm.pid, 'the relay is its own process under npm');

  npm.kill('SIGTERM');
  await exitWithin(npmExited, 30_000);
  await waitFor(() => !processAlive(relayPid!), 30_000, `the relay (pid ${relayPid}) to end after npm got SIGTERM`).catch(() => undefined);
  t.notOk(processAlive(relayPid), 'the relay process ended: it got the signal');
  t.match(out, /"msg":"signal received, shutting down"/, 'it shut down on the signal');
});
