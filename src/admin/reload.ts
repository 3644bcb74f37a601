import type { Command } from 'commander';
import { FerryError, errorMessage } from '../core/errors.js';
import { pidFilePath, processAlive, readPidFile } from '../ops/pid-file.js';
import { dataDirLockState } from '../ops/data-dir-lock.js';
import { httpGet, sampleValue } from '../ops/probe.js';
import type { CliContext } from './context.js';

const OK = 'result="ok"';
const ERROR = 'result="error"';

/**
 * `ferry reload`: checks the configuration (same file and environment as the relay), then sends
 * SIGHUP to the relay named by dataDir/ferry.pid. When http.listen is set it waits for the
 * relay's reload counter to move and says whether the relay took the new configuration.
 */
export function registerReloadCommand(program: Command, ctx: CliContext): void {
  program
    .command('reload')
    .description('check the configuration and tell the running relay to reload it (SIGHUP)')
    .option('--wait <ms>', 'how long to wait for the relay to confirm (needs http.listen)', '5000')
    .action(async (opts: { wait: string }) => {
      const config = ctx.config(); // throws, with every problem, before anything is signalled
      const pidFile = pidFilePath(config.dataDir);
      const pid = readPidFile(pidFile);
      if (pid === null) {
        if (dataDirLockState(config.dataDir) === 'held') {
          throw new FerryError('FERRY_ERR_NOT_FOUND', `a relay holds the data directory ${config.dataDir} but its pid file ${pidFile} is missing: signal it yourself (kill -HUP PID)`);
        }
        throw new FerryError('FERRY_ERR_NOT_FOUND', `the relay is not running (no pid file at ${pidFile})`);
      }
      if (!processAlive(pid)) throw new FerryError('FERRY_ERR_NOT_FOUND', `the relay is not running (stale pid file ${pidFile} names pid ${pid})`);

      const listen = config.http.listen;
      const before = listen ? await counters(listen) : null;
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new FerryError('FERRY_ERR_INTERNAL', `cannot signal pid ${pid}: ${errorMessage(err)}`, { cause: err });
      }
      if (!listen || !before) {
        ctx.io.stdout.write(`configuration is valid; sent SIGHUP to the relay (pid ${pid}): its log says "config reloaded" or why it refused\n`);
        return;
      }
      const deadline = ctx.clock.now() + Math.max(0, Number(opts.wait) || 0);
      for (;;) {
        const after = await counters(listen);
        if (after && after.ok > before.ok) {
          ctx.io.stdout.write(`relay (pid ${pid}) reloaded its configuration\n`);
          return;
        }
        if (after && after.error > before.error) {
          throw new FerryError('FERRY_ERR_CONFIG', `the relay (pid ${pid}) refused the new configuration and keeps the old one: see its log`);
        }
        if (ctx.clock.now() >= deadline) {
          ctx.io.stdout.write(`sent SIGHUP to the relay (pid ${pid}); no confirmation yet: check its log\n`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
}

async function counters(listen: string): Promise<{ ok: number; error: number } | null> {
  try {
    const res = await httpGet(listen, '/metrics');
    if (res.status !== 200) return null;
    return { ok: sampleValue(res.body, 'ferry_config_reloads_total', OK), error: sampleValue(res.body, 'ferry_config_reloads_total', ERROR) };
  } catch {
    return null;
  }
}
