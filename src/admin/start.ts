import type { Command } from 'commander';
import { errorMessage, FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import type { CliContext } from './context.js';
import type { ReloadResult } from '../ops/reload.js';
import { reloadReportPath, writeReloadReport } from '../ops/reload-report.js';
import { pidFilePath, readPidFile, processAlive, removePidFile, writePidFile } from '../ops/pid-file.js';
import { prepareDataDir } from '../core/data-dir.js';
import { lockDataDir } from '../ops/data-dir-lock.js';

/** The relay `ferry start` runs (built by the composition root, src/main.ts), as far as this command uses it. */
export interface RunningRelay {
  readonly logger: Logger;
  readonly metrics: { reloaded(ok: boolean): void };
  start(): Promise<unknown>;
  reload(next: Config): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/**
 * Loads the relay's factory. The process entry (entry.ts) hands it in, so that no part of the
 * CLI imports the composition root; it is loaded only here, since the whole pipeline is most
 * of the CLI's start-up time and no other command needs it.
 */
export type RelayLoader = () => Promise<(config: Config) => RunningRelay>;

/**
 * `ferry start`: runs the relay in the foreground until SIGTERM/SIGINT (a second one forces).
 * SIGHUP (or `ferry reload`) re-reads the same config file and environment and swaps it in;
 * a config that does not validate is logged and the running one stays. The process id is
 * kept in dataDir/ferry.pid while the relay runs (`ferry status`, `ferry reload` read it).
 * The data directory is locked to this process first (see ops/data-dir-lock.ts): a second
 * relay on it stops with one line before it touches anything, the pid file included.
 */
export function registerStartCommand(
  program: Command,
  ctx: CliContext,
  onSignal: (handler: (signal: string) => void) => void,
  exit: (code: number) => void = (code) => process.exit(code),
  loadRelay?: RelayLoader,
): void {
  program
    .command('start')
    .description('run the relay in the foreground (SIGHUP reloads the configuration)')
    .action(async () => {
      const config = ctx.config();
      // store.url set: the relay runs on the PostgreSQL store (a node of the cluster); dataDir
      // still holds this node's own files (pid file, lock, body staging, TLS material).
      prepareDataDir(config.dataDir);
      const pidFile = pidFilePath(config.dataDir);
      const lock = lockDataDir(config.dataDir, () => {
        const pid = readPidFile(pidFile);
        return pid !== null && processAlive(pid) ? pid : null;
      });
      try {
        await run(config, pidFile);
      } finally {
        removePidFile(pidFile, process.pid);
        lock.release();
      }
    });

  async function run(config: Config, pidFile: string): Promise<void> {
    // Signals are ours from here on. While the relay starts (recovery, binding), a SIGHUP is
    // kept and applied once it runs — instead of Node's default action ending the process —
    // and SIGTERM/SIGINT end the process at once, as before: nothing is accepted yet, and
    // every step of start-up is safe to interrupt.
    let running: ((signal: string) => void) | null = null;
    let hupWhileStarting = false;
    onSignal((signal) => {
      if (running) return running(signal);
      if (signal === 'SIGHUP') {
        hupWhileStarting = true;
        return;
      }
      ctx.io.stderr.write(`ferry: ${signal} while starting: exiting\n`);
      exit(1);
    });
    if (!loadRelay) throw new FerryError('FERRY_ERR_INTERNAL', 'this ferry command was built without the relay: run it as bin/ferry');
    const createRelay = await loadRelay();
    const ferry = createRelay(config);
    await ferry.start();
    claimPidFile(ferry, pidFile);
    let reloading: Promise<void> = Promise.resolve();
    let reloads = 0;
    await new Promise<void>((resolve) => {
      let stopping = false;
      running = (signal) => {
        if (signal === 'SIGHUP') {
          if (stopping) return;
          ferry.logger.info({ signal }, 'signal received, reloading the configuration');
          const seq = ++reloads;
          reloading = reloading.then(() => reload(ferry, ctx, config.dataDir, seq));
          return;
        }
        if (stopping) {
          // At once: the drain still running holds sockets and timers that would keep the
          // process alive for the whole grace period. What was accepted is on disk, and
          // claims left behind are released at the next start.
          ferry.logger.warn({ signal }, 'second signal: exiting at once');
          removePidFile(pidFile, process.pid);
          let exited = false;
          const end = () => {
            if (exited) return;
            exited = true;
            exit(1);
          };
          ctx.clock.setTimer(500, end);
          ferry.logger.flush((_err?: Error) => end());
          resolve();
          return;
        }
        stopping = true;
        ferry.logger.info({ signal }, 'signal received, shutting down');
        reloading
          .then(() => ferry.stop())
          .then(resolve, (err: unknown) => {
            ferry.logger.error({ err }, 'shutdown failed');
            process.exitCode = 1;
            resolve();
          });
      };
      if (hupWhileStarting) {
        ferry.logger.info('a SIGHUP came while starting: reloading the configuration now');
        running('SIGHUP');
      }
    });
  }
}

/** Reloads the configuration; `seq` numbers this reload in its report (dataDir/reload.json). */
async function reload(ferry: RunningRelay, ctx: CliContext, dataDir: string, seq: number): Promise<void> {
  const report = (r: { ok: boolean; error: string | null; applied: string[]; restartNeeded: string[] }): void => {
    const file = reloadReportPath(dataDir);
    try {
      writeReloadReport(file, { pid: process.pid, seq, at: new Date(ctx.clock.now()).toISOString(), ...r });
    } catch (err) {
      ferry.logger.warn({ err: errorMessage(err), file }, 'cannot write the reload report: `ferry reload` will not see the result');
    }
  };
  let next: Config;
  try {
    next = ctx.reloadConfig ? ctx.reloadConfig() : ctx.config();
  } catch (err) {
    ferry.metrics.reloaded(false);
    ferry.logger.error({ err: errorMessage(err) }, `config reload refused, the running configuration stays: ${errorMessage(err)}`);
    report({ ok: false, error: errorMessage(err), applied: [], restartNeeded: [] });
    return;
  }
  try {
    report(await ferry.reload(next));
  } catch (err) {
    ferry.logger.error({ err }, 'config reload failed');
    report({ ok: false, error: errorMessage(err), applied: [], restartNeeded: [] });
  }
}

function claimPidFile(ferry: RunningRelay, file: string): void {
  const other = readPidFile(file);
  if (other !== null && other !== process.pid && processAlive(other)) {
    ferry.logger.warn({ pid: other, file }, 'the pid file names another running process: is a second relay using this data directory? Overwriting it');
  }
  try {
    writePidFile(file, process.pid);
  } catch (err) {
    ferry.logger.warn({ err: errorMessage(err), file }, 'cannot write the pid file: `ferry status` and `ferry reload` will not find this relay');
  }
}
