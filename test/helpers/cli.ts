import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the real `ferry` command runs from here (bin/ferry → dist/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Only what the command needs from the environment: no tap loaders, no inherited FERRY_*. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // FERRY_HTTP_LISTEN: a free port, not the default 8025 that parallel tests would share.
  // FERRY_DEFAULT_CONFIG empty: no /etc/ferry/ferry.yaml of the machine running the tests.
  // FERRY_DNS_SERVERS: a loopback port where nothing answers (refused at once), as startRelay
  // does: a relay in a child process must not ask the machine's resolver, whose answers (or
  // silence) differ between machines. A test with its own DNS server passes it, or '' to use
  // the dns.servers of its configuration file.
  return { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_HTTP_LISTEN: '127.0.0.1:0', FERRY_DEFAULT_CONFIG: '', FERRY_DNS_SERVERS: '127.0.0.1:9', ...extra };
}

export interface RunOptions {
  env: Record<string, string>;
  stdin?: string;
  timeoutMs?: number;
  /** The command's working directory (default: the repository root). */
  cwd?: string;
  /** A command that runs node for us, e.g. ['setpriv', '--reuid=65534', ...] to run as another user. */
  wrap?: string[];
}

/** Runs `node bin/ferry ...args` to completion (bounded by timeoutMs). */
export function runFerry(args: string[], opts: RunOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, `${REPO_ROOT}bin/ferry`, ...args];
    const [cmd, ...rest] = opts.wrap ? [...opts.wrap, ...argv] : argv;
    const child = spawn(cmd!, rest, { cwd: opts.cwd ?? REPO_ROOT, env: cliEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 90_000} ms`));
      // A bound for a hung command only: a loaded machine takes seconds to start node.
    }, opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

export { freePort } from './free-port.js';

export interface RunningFerry {
  child: ChildProcess;
  /** Every stdout line seen so far. */
  lines: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node bin/ferry start` and resolves once it logs "ferry started" (or fails within timeoutMs). */
export function startFerryProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<RunningFerry> {
  const child = spawn(process.execPath, ['bin/ferry', 'start'], { cwd: REPO_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry start did not log "ferry started" within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.includes('"msg":"ferry started"')) {
          clearTimeout(timer);
          resolve({ child, lines, stderr: () => stderr, exited });
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`ferry start exited early (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
}
