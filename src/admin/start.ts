import type { Command } from 'commander';
import { createFerry } from '../main.js';
import type { CliContext } from './context.js';

/** `ferry start`: runs the relay in the foreground until SIGTERM/SIGINT. */
export function registerStartCommand(program: Command, ctx: CliContext, onSignal: (handler: (signal: string) => void) => void): void {
  program
    .command('start')
    .description('run the relay in the foreground')
    .action(async () => {
      const ferry = createFerry(ctx.config());
      await ferry.start();
      await new Promise<void>((resolve) => {
        let stopping = false;
        onSignal((signal) => {
          if (stopping) {
            ferry.logger.warn({ signal }, 'second signal: exiting at once');
            ferry.logger.flush?.();
            process.exitCode = 1;
            resolve();
            return;
          }
          stopping = true;
          ferry.logger.info({ signal }, 'signal received, shutting down');
          ferry.stop().then(resolve, (err: unknown) => {
            ferry.logger.error({ err }, 'shutdown failed');
            process.exitCode = 1;
            resolve();
          });
        });
      });
    });
}
