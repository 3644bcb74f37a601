import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/admin/cli.js';
import { freePort } from '../helpers/cli.js';
import { waitFor } from '../helpers/bounce.js';
import { tempDir } from '../helpers/relay.js';
import { freshWriterEntry } from '../helpers/writer-entry.js';

/**
 * `ferry start` owns its signals from before the relay starts: a SIGHUP that arrives during
 * start-up (recovery, binding) no longer meets Node's default action, which ended the process;
 * it is applied as a reload once the relay runs.
 */
t.test('a SIGHUP during start-up is applied once the relay runs; SIGTERM then stops it', async (t) => {
  const dir = tempDir(t);
  const httpPort = await freePort();
  const configFile = join(dir, 'ferry.json');
  writeFileSync(configFile, JSON.stringify({ dataDir: join(dir, 'data'), hostname: 'ferry.test', log: { level: 'silent' }, smtp: { listen: '127.0.0.1:0' }, http: { listen: `127.0.0.1:${httpPort}` } }));
  let handler: ((signal: string) => void) | null = null;
  let pidFileAtRegistration: boolean | null = null;
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = runCli(['-c', configFile, 'start'], {
    io: { stdout: new PassThrough(), stderr, stdin: new PassThrough(), isTTY: false },
    env: {},
    cwd: dir,
    relay: async () => {
      const { createFerry } = await import('../../src/main.js');
      // The built writer thread when it is current, as startRelay does (from sources, each
      // thread compiles them again: seconds, minutes on a loaded machine).
      const writer = freshWriterEntry();
      return (config) => createFerry(config, writer ? { storeWriterEntry: writer } : {});
    },
    onSignal: (h) => {
      handler = h;
      pidFileAtRegistration = existsSync(join(dir, 'data', 'ferry.pid'));
      // At registration, which is now before the relay is even built.
      h('SIGHUP');
    },
  });
  await waitFor(() => existsSync(join(dir, 'data', 'ferry.pid')), 60_000, 'the relay to run');
  t.equal(pidFileAtRegistration, false, 'signals were taken before the relay started');
  const reloads = async () => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    return /ferry_config_reloads_total\{result="ok"\} (\d+)/.exec(text)?.[1] ?? '0';
  };
  const deadline = Date.now() + 30_000;
  while ((await reloads()) !== '1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(await reloads(), '1', 'the early SIGHUP became one reload');
  handler!('SIGTERM');
  t.equal(await done, 0, 'SIGTERM stops the relay cleanly');
  t.equal(err, '');
  t.notOk(existsSync(join(dir, 'data', 'ferry.pid')), 'and the pid file is removed');
});
