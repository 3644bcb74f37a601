import type { Command } from 'commander';
import { FerryError, errorMessage } from '../core/errors.js';
import { pidFilePath, processAlive, readPidFile } from '../ops/pid-file.js';
import { dataDirLockState } from '../ops/data-dir-lock.js';
import { isNewReport, readReloadReport, reloadReportPath } from '../ops/reload-report.js';
import type { CliContext } from './context.js';

/** Exit status when the relay reloaded what it could but some changed settings need a restart. */
export const EXIT_RESTART_NEEDED = 3;

/**
 * `ferry reload`: checks the configuration (same file and environment as the relay), then sends
 * SIGHUP to the relay named by dataDir/ferry.pid and waits for the relay's reload report
 * (dataDir/reload.json) to say whether it took the new configuration, and which changed settings
 * (listen addresses, dataDir, …) only a restart applies: those make the exit status 3.
 */
export function registerReloadCommand(program: Command, ctx: CliContext): void {
  program
    .command('reload')
    .description('check the configuration and tell the running relay to reload it (SIGHUP); exit 3: a restart is needed for some settings')
    .option('--wait <ms>', 'how long to wait for the relay to confirm', '5000')
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

      const reportFile = reloadReportPath(config.dataDir);
      const before = readReloadReport(reportFile);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new FerryError('FERRY_ERR_INTERNAL', `cannot signal pid ${pid}: ${errorMessage(err)}`, { cause: err });
      }
      const deadline = ctx.clock.now() + Math.max(0, Number(opts.wait) || 0);
      for (;;) {
        const after = readReloadReport(reportFile);
        if (isNewReport(after, before, pid)) {
          if (!after.ok) {
            throw new FerryError('FERRY_ERR_CONFIG', `the relay (pid ${pid}) refused the new configuration and keeps the old one: ${after.error ?? 'see its log'}`);
          }
          ctx.io.stdout.write(`relay (pid ${pid}) reloaded its configuration${after.applied.length ? ` (applied: ${after.applied.join(', ')})` : ''}\n`);
          if (after.restartNeeded.length) {
            ctx.io.stderr.write(`ferry: restart needed for: ${after.restartNeeded.join(', ')} (the relay keeps the old values until it restarts)\n`);
            process.exitCode = EXIT_RESTART_NEEDED;
          }
          return;
        }
        if (ctx.clock.now() >= deadline) {
          ctx.io.stdout.write(`sent SIGHUP to the relay (pid ${pid}); no confirmation yet: check its log\n`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
}
