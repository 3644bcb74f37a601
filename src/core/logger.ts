import { pino, destination, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** The one logger factory: JSON lines, session/queue/attempt ids as fields, never passwords. */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'ferry' },
      redact: { paths: ['password', 'pass', '*.password', '*.pass'], censor: '[redacted]' },
      timestamp: stdTimeFunctions.isoTime,
    },
    dest ?? destination({ dest: 1, sync: false }),
  );
}

/** A logger that discards everything (tests, CLI commands that log nothing). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
