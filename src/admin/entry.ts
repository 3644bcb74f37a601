import { runCli } from './cli.js';

// A reader that went away (`ferry events list | head -1`) ends the command quietly with
// status 0, as other Unix tools do, instead of an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  process.stderr.write(`ferry: cannot write to standard output: ${err.code ?? err.message}\n`);
  process.exit(1);
});

/**
 * The process edge: real streams, environment and signals, and the relay the composition root
 * builds; the only place that exits, and the only file that imports src/main.ts.
 */
const code = await runCli(process.argv.slice(2), {
  io: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTTY: Boolean(process.stdout.isTTY && process.stdin.isTTY), columns: terminalColumns() },
  env: {
    FERRY_CONFIG: process.env.FERRY_CONFIG,
    FERRY_DATA_DIR: process.env.FERRY_DATA_DIR,
    FERRY_SMTP_LISTEN: process.env.FERRY_SMTP_LISTEN,
    FERRY_HTTP_LISTEN: process.env.FERRY_HTTP_LISTEN,
    FERRY_STORE_URL: process.env.FERRY_STORE_URL,
    FERRY_DNS_SERVERS: process.env.FERRY_DNS_SERVERS,
    FERRY_DEFAULT_CONFIG: process.env.FERRY_DEFAULT_CONFIG,
  },
  cwd: process.cwd(),
  exit: (code) => process.exit(code),
  // Loaded only by `ferry start`: the relay's whole pipeline is most of the CLI's start-up time.
  relay: async () => (await import('../main.js')).createFerry,
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
