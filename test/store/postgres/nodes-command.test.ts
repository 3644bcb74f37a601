import t from 'tap';
import { PassThrough } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../src/admin/cli.js';
import type { RelayLoader } from '../../../src/admin/start.js';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { accepted } from '../../helpers/store.js';
import { tempDir } from '../../helpers/relay.js';

function cli(env: Record<string, string>, cwd: string, relay?: RelayLoader) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const run = (...argv: string[]) =>
    runCli(argv, { io: { stdout, stderr, stdin: new PassThrough(), isTTY: false }, env: { FERRY_DEFAULT_CONFIG: '', ...env }, cwd, onSignal: () => undefined, ...(relay ? { relay } : {}) });
  return { run, out: () => out, err: () => err, reset: () => ((out = ''), (err = '')) };
}

t.test('ferry nodes lists every node with heartbeat, leases held and version', async (t) => {
  const { url } = await testPg();
  const a = await openTestStore(t, url, 'mx-a');
  const b = await openTestStore(t, url, 'mx-b');
  await a.queue.accept([accepted({ id: 'N1', at: Date.now(), recipients: ['x@a.test', 'y@a.test', 'z@a.test'] })]);
  await b.recipients.claim(Date.now(), Date.now() + 60_000, 'mx-b', 2);
  await a.close();

  const c = cli({ FERRY_STORE_URL: url }, tempDir(t));
  t.equal(await c.run('nodes', '--json'), 0, c.err());
  const rows = JSON.parse(c.out()) as { name: string; state: string; leasesHeld: number; version: string }[];
  t.same(
    rows.map((r) => [r.name, r.state, r.leasesHeld, r.version]),
    [
      ['mx-a', 'stopped', 0, 'test'],
      ['mx-b', 'alive', 2, 'test'],
    ],
  );
  c.reset();
  t.equal(await c.run('nodes'), 0);
  t.match(c.out(), /mx-b\s*│\s*alive/);
  t.match(c.out(), /leases held/);
});

t.test('without store.url: one clear line, exit 2 (usage)', async (t) => {
  const c = cli({}, tempDir(t));
  t.equal(await c.run('nodes'), 2);
  t.match(c.err(), /^ferry: ferry nodes lists the nodes of a PostgreSQL store: set store.url/);
});

t.test('a bad FERRY_STORE_URL is refused with the password hidden', async (t) => {
  const c = cli({ FERRY_STORE_URL: 'mysql://u:hunter2@db/x' }, tempDir(t));
  t.equal(await c.run('nodes'), 1);
  t.match(c.err(), /store\.url/);
  t.notMatch(c.err(), /hunter2/);
});

t.test('ferry start on an unreachable store.url: one line naming the store, exit 1, the password hidden', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'ferry.json'), JSON.stringify({ sign: { threads: 0 }, http: { listen: null } }));
  const c = cli({ FERRY_STORE_URL: 'postgres://ferry:pw@127.0.0.1:1/ferry', FERRY_DATA_DIR: dir, FERRY_CONFIG: join(dir, 'ferry.json') }, dir, async () => (await import('../../../src/main.js')).createFerry);
  t.equal(await c.run('start'), 1);
  t.match(c.err(), /PostgreSQL store \S*127\.0\.0\.1:1/);
  t.notMatch(c.err(), /store\.url is set, but ferry start cannot run/, 'no longer refused: it tried the store');
  t.notMatch(c.err(), /pw@/);
});
