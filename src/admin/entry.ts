import { runCli } from './cli.js';

/** The process edge: real streams, environment and signals; the only place that exits. */
const code = await runCli(process.argv.slice(2), {
  io: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTTY: Boolean(process.stdout.isTTY && process.stdin.isTTY), columns: terminalColumns() },
  env: {
    FERRY_CONFIG: process.env.FERRY_CONFIG,
    FERRY_DATA_DIR: process.env.FERRY_DATA_DIR,
    FERRY_SMTP_LISTEN: process.env.FERRY_SMTP_LISTEN,
    FERRY_HTTP_LISTEN: process.env.FERRY_HTTP_LISTEN,
  },
  cwd: process.cwd(),
  onSignal: (handler) => {
    // Only `ferry start` registers: SIGTERM/SIGINT stop the relay, SIGHUP reloads its config.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => handler(signal));
  },
});
process.exitCode = code;

function terminalColumns(): number | undefined {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}
