import t from 'tap';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

/**
 * Admin commands act on the relay's database or on nothing: pointed at a place with no
 * database, they stop with one line that names the path and the three ways to point them at
 * the relay's data, and create nothing (an admin clearing a suppression on a new empty
 * database would believe it was done). Only `ferry start` and `ferry init` create one.
 */
t.test('an admin command where there is no database: exit 1, one line naming the path and the ways to point at the data, nothing created', async (t) => {
  const cwd = tempDir(t);
  for (const args of [['suppressions', 'add', 'bob@example.com'], ['suppressions', 'list'], ['users', 'list'], ['status'], ['queue', 'list']]) {
    const r = await runFerry(args, { env: {}, cwd });
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    t.equal(r.stderr.split('\n').length, 2, `${args.join(' ')}: one line`);
    t.match(r.stderr, `ferry: no Ferry database at ${join(cwd, 'data', 'ferry.db')}`);
    t.match(r.stderr, /--config FILE, FERRY_CONFIG=FILE or FERRY_DATA_DIR=DIR/);
  }
  t.same(readdirSync(cwd), [], 'no ./data was created');

  const elsewhere = join(cwd, 'var', 'ferry');
  const r = await runFerry(['suppressions', 'add', 'bob@example.com'], { env: { FERRY_DATA_DIR: elsewhere }, cwd });
  t.equal(r.code, 1);
  t.match(r.stderr, `no Ferry database at ${join(elsewhere, 'ferry.db')} (dataDir from FERRY_DATA_DIR)`);
  t.notOk(existsSync(elsewhere), 'FERRY_DATA_DIR is not created either');
});

t.test('ferry init creates the database where the configuration points; the admin commands then use it', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'lib', 'ferry');
  const init = await runFerry(['init'], { env: { FERRY_DATA_DIR: dataDir } });
  t.equal(init.code, 0);
  t.equal(init.stdout, `created ${join(dataDir, 'ferry.db')}\n`);
  const again = await runFerry(['init'], { env: { FERRY_DATA_DIR: dataDir } });
  t.equal(again.code, 0);
  t.match(again.stdout, /exists already: nothing to do/);
  const add = await runFerry(['suppressions', 'add', 'bob@example.com'], { env: { FERRY_DATA_DIR: dataDir } });
  t.equal(add.code, 0, add.stderr);
  const list = await runFerry(['suppressions', 'list'], { env: { FERRY_DATA_DIR: dataDir } });
  t.match(list.stdout, /bob@example\.com/);
});

t.test('the default configuration file (/etc/ferry/ferry.yaml) is read when nothing else names one, so `sudo -u ferry ferry status` finds the service data', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'state');
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const file = join(etc, 'ferry.yaml');
  writeFileSync(file, `dataDir: ${dataDir}\nhttp:\n  listen: null\n`);
  // The test stands in for /etc/ferry/ferry.yaml with FERRY_DEFAULT_CONFIG (only tests set it).
  const env = { FERRY_DEFAULT_CONFIG: file };
  const cwd = tempDir(t);

  t.equal((await runFerry(['init'], { env, cwd })).code, 0);
  t.ok(existsSync(join(dataDir, 'ferry.db')), 'init followed the default file');
  const add = await runFerry(['suppressions', 'add', 'carol@example.com', '--reason', 'asked'], { env, cwd });
  t.equal(add.code, 0, add.stderr);
  const list = await runFerry(['suppressions', 'list'], { env, cwd });
  t.match(list.stdout, /carol@example\.com/, 'the same database, from another directory');
  t.same(readdirSync(cwd), [], 'nothing created in the working directory');

  const status = await runFerry(['status'], { env, cwd });
  t.equal(status.code, 1, 'not running');
  t.match(status.stdout, new RegExp(`^data\\s+${dataDir}$`, 'm'), 'status looks at the service data directory');

  // --config and FERRY_CONFIG still win over the default file.
  const other = join(dir, 'other.yaml');
  writeFileSync(other, `dataDir: ${join(dir, 'other')}\n`);
  const r = await runFerry(['suppressions', 'list'], { env: { ...env, FERRY_CONFIG: other }, cwd });
  t.equal(r.code, 1);
  t.match(r.stderr, `no Ferry database at ${join(dir, 'other', 'ferry.db')} (dataDir from ${other})`);
});
