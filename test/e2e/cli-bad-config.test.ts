import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

t.test('a bad config file stops every command with one line naming the key', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, 'dataDir: ./data\nsmtp:\n  maxMesageSizeBytes: 10\n');
  for (const args of [['users', 'list'], ['start'], ['messages', 'list']]) {
    const r = await runFerry(args, { env: { FERRY_CONFIG: file } });
    t.not(r.code, 0, `${args.join(' ')} exits non-zero`);
    t.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `${args.join(' ')}: one line`);
    t.match(lines[0], /unknown key "smtp\.maxMesageSizeBytes"/);
  }
  writeFileSync(file, 'smtp:\n  maxClients: lots\n');
  const bad = await runFerry(['--config', file, 'users', 'list'], { env: {} });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^ferry: .*ferry\.yaml: smtp\.maxClients = "lots": .*number.*\n$/);
});

t.test('a configured DKIM key file that cannot be read stops `ferry start` with one line naming the key', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'ferry.yaml');
  writeFileSync(
    file,
    `dataDir: ${join(dir, 'data')}\nsmtp:\n  listen: 127.0.0.1:0\nhttp:\n  listen: null\ndkim:\n  keys:\n    - domain: ferry.test\n      selector: s1\n      keyFile: ${join(dir, 'missing.pem')}\n`,
  );
  const r = await runFerry(['start'], { env: { FERRY_CONFIG: file } });
  t.not(r.code, 0, 'exits non-zero');
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /dkim\.keys\[0\]\.keyFile: cannot load DKIM key .*missing\.pem/);
});
