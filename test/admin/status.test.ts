import t from 'tap';
import { spawnSync } from 'node:child_process';
import { registerStatusCommand } from '../../src/admin/status.js';
import { VERSION } from '../../src/core/version.js';
import { pidFilePath, writePidFile } from '../../src/ops/pid-file.js';
import { makeProgram } from '../sign/fixtures/helpers.js';
import { cliFor, NOW, seed } from '../ops/fixtures/seed.js';
import { startRelay, tempDir } from '../helpers/relay.js';
import { ManualClock } from '../../src/core/clock.js';
import { freePort } from '../helpers/free-port.js';

async function run(cli: ReturnType<typeof cliFor>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerStatusCommand(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}


t.test('not running: no pid file, or a stale one; exits non-zero', async (t) => {
  const dir = tempDir(t);
  const cli = cliFor(dir, { http: { listen: null } }, new ManualClock(NOW));
  t.teardown(() => cli.close());
  seed(cli.ctx.db());
  await t.rejects(run(cli, 'status'), { code: 'FERRY_ERR_NOT_FOUND', message: 'the relay is not running' });
  t.match(cli.out(), /^relay\s+not running\n/m);
  t.match(cli.out(), /^smtp\s+127\.0\.0\.1:2525 \(configured\)$/m);
  t.match(cli.out(), /^queue\s+1 queued, 1 deferred$/m);
  t.match(cli.out(), /^last delivery\s+2026-01-15T10:00:01Z \(1h 59m ago\) via mx\.test$/m);

  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  writePidFile(pidFilePath(dir), dead);
  const before = cli.out().length;
  await t.rejects(run(cli, 'status', '--json'), { code: 'FERRY_ERR_NOT_FOUND' });
  const j = JSON.parse(cli.out().slice(before));
  t.equal(j.running, false);
  t.same(j.pidFile.stale, true);
  t.equal(j.pidFile.pid, dead);
});

t.test('running: pid file, /healthz and /readyz of the live relay, its bound listeners and version', async (t) => {
  const port = await freePort();
  const { dataDir, smtpPort } = await startRelay(t, { http: { listen: `127.0.0.1:${port}` } });
  writePidFile(pidFilePath(dataDir), process.pid); // as `ferry start` does
  const cli = cliFor(dataDir, { http: { listen: `127.0.0.1:${port}` } });
  t.teardown(() => cli.close());
  const out = await run(cli, 'status');
  t.match(out, new RegExp(`^relay\\s+running \\(pid ${process.pid}\\)$`, 'm'));
  t.match(out, new RegExp(`^smtp\\s+127\\.0\\.0\\.1:${smtpPort}$`, 'm'), 'the bound port, from the relay');
  t.match(out, /^health\s+healthy, ready$/m);
  t.match(out, /^queue\s+0 queued, 0 deferred$/m);
  t.match(out, /^last delivery\s+never$/m);
  t.match(out, new RegExp(`^version\\s+${VERSION.replace(/\./g, '\\.')}$`, 'm'));
  const j = JSON.parse(await run(cli, 'status', '--json'));
  t.equal(j.running, true);
  t.equal(j.listenersFrom, 'relay');
  t.equal(j.health.ready, true);
});
