import t from 'tap';
import { spawn } from 'node:child_process';
import { cliEnv, freePort, REPO_ROOT, runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// `ferry dev-sink` refusals through the real command: one line and an exit status.

function startSink(args: string[]) {
  const child = spawn(process.execPath, ['bin/ferry', 'dev-sink', ...args], { cwd: REPO_ROOT, env: cliEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('dev-sink: a bad --listen is a usage error; a taken port is one line', async (t) => {
  const bad = await runFerry(['dev-sink', '--listen', 'nowhere'], { env: {} });
  t.equal(bad.code, 2);
  t.equal(bad.stderr, 'ferry: --listen "nowhere": expected host:port, e.g. 127.0.0.1:2526\n');
  const dir = tempDir(t);
  const port = await freePort();
  const first = startSink(['--listen', `127.0.0.1:${port}`, '--dir', dir]);
  t.teardown(() => void first.child.kill('SIGKILL'));
  await until('the sink to listen', () => (first.out().includes('listening') ? true : null));
  const second = await runFerry(['dev-sink', '--listen', `127.0.0.1:${port}`, '--dir', dir], { env: {} });
  t.equal(second.code, 1);
  t.match(second.stderr, new RegExp(`^ferry: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*\\n$`));
  const big = await runFerry(['dev-sink', '--max-bytes', 'lots'], { env: {} });
  t.equal(big.code, 2);
});
