import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, runFerry, startFerryProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// The Docker image's files: what the build context leaves out, and a health check that asks the
// configured HTTP port (run here as the image runs it: `ferry status --health`).

t.test('.dockerignore keeps data, installs, build output and test leftovers out of the build context', async (t) => {
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['data/', 'node_modules/', 'dist/', 'tmp/', '.git/', 'coverage/', '.tap/', '*.db']) t.ok(ignored.includes(entry), entry);
});

t.test('the Dockerfile health check uses the configured HTTP port, not 8025', async (t) => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('HEALTHCHECK'))!;
  t.ok(line, 'there is a health check');
  t.notMatch(line, /8025/, 'no hard-coded port');
  const cmd = JSON.parse(line.slice(line.indexOf('CMD') + 3).trim()) as string[];
  t.same(cmd, ['node', 'bin/ferry', 'status', '--health']);
  t.match(dockerfile, /^ENV .*FERRY_CONFIG=\/app\/config\/docker\.yaml/m, 'the relay and the health check read one configuration file');

  const dir = tempDir(t, 'ferry-health-');
  const httpPort = await freePort();
  const configFile = join(dir, 'ferry.yaml');
  writeFileSync(configFile, [`dataDir: ${join(dir, 'data')}`, 'hostname: ferry.test', 'smtp: { listen: "127.0.0.1:0" }', `http: { listen: "127.0.0.1:${httpPort}" }`].join('\n'));
  const env = { FERRY_CONFIG: configFile, FERRY_HTTP_LISTEN: '' };

  const before = await runFerry(cmd.slice(2), { env });
  t.equal(before.code, 1, 'no relay yet: unhealthy');
  t.match(before.stderr, new RegExp(`^ferry: no relay answers at http://127\\.0\\.0\\.1:${httpPort}: .*\\n$`));

  const relay = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null) {
      relay.child.kill('SIGKILL');
      await relay.exited;
    }
  });
  const ready = await runFerry(cmd.slice(2), { env });
  t.equal(ready.code, 0, ready.stderr);
  t.equal(ready.stdout, `ready at http://127.0.0.1:${httpPort}\n`);

  // FERRY_HTTP_LISTEN overrides the file for the check as it does for the relay
  const elsewhere = await runFerry(cmd.slice(2), { env: { ...env, FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` } });
  t.equal(elsewhere.code, 1);

  const off = await runFerry(cmd.slice(2), { env: { FERRY_DATA_DIR: join(dir, 'data'), FERRY_HTTP_LISTEN: '', FERRY_CONFIG: writeOff(dir) } });
  t.equal(off.code, 1);
  t.match(off.stderr, /--health needs the HTTP endpoint/);

  relay.child.kill('SIGTERM');
  await relay.exited;
});

function writeOff(dir: string): string {
  const file = join(dir, 'no-http.yaml');
  writeFileSync(file, [`dataDir: ${join(dir, 'data')}`, 'http: { listen: null }'].join('\n'));
  return file;
}
