import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runFerry, startFerryProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { isFullyQualified } from '../../src/config/hostname.js';

// `ferry reload` through the real command against a running `ferry start` (no HTTP endpoint:
// the relay's answer comes through its reload report in the data directory).

t.test('ferry reload after a listen-address change: exit 3, "restart needed for: smtp.listen"; a bare hostname warns at start', async (t) => {
  const dir = tempDir(t, 'ferry-reload-restart-');
  const configFile = join(dir, 'ferry.yaml');
  const smtpPort = await freePort();
  const write = (smtp: number, extra: string[] = []) =>
    writeFileSync(
      configFile,
      [`dataDir: ${join(dir, 'data')}`, 'hostname: vm', 'log: { level: info }', `smtp: { listen: "127.0.0.1:${smtp}" }`, 'http: { listen: null }', ...extra].join('\n'),
    );
  write(smtpPort);
  // FERRY_HTTP_LISTEN empty: the file's http.listen counts (the test helper sets a port otherwise)
  const env = { FERRY_CONFIG: configFile, FERRY_HTTP_LISTEN: '' };
  const relay = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null) {
      relay.child.kill('SIGKILL');
      await relay.exited;
    }
  });
  const warning = relay.lines.find((l) => l.includes('not a fully qualified domain name'));
  t.ok(warning, 'a start warning for hostname "vm"');
  t.match(warning, /"level":40/);
  t.match(warning, /hostname \\"vm\\" .*MAILER-DAEMON@vm.*set \\"hostname\\" in the configuration/);

  // nothing changed: reloaded, exit 0
  const same = await runFerry(['reload', '--wait', '20000'], { env });
  t.equal(same.code, 0, same.stderr);
  t.match(same.stdout, `relay (pid ${relay.child.pid}) reloaded its configuration`);

  // a new SMTP address and a live setting: the live one applies, the address waits for a restart
  const other = await freePort();
  write(other, ['dmarc: { mode: "off" }']);
  const moved = await runFerry(['reload', '--wait', '20000'], { env });
  t.equal(moved.code, 3, 'exit 3: a restart is needed');
  t.match(moved.stdout, /reloaded its configuration \(applied: dmarc\.mode\)/);
  t.equal(moved.stderr, 'ferry: restart needed for: smtp.listen (the relay keeps the old values until it restarts)\n');

  // asked again, it still says so: the relay still listens where it started
  writeFileSync(
    configFile,
    [`dataDir: ${join(dir, 'data')}`, 'hostname: vm', 'log: { level: info }', `smtp: { listen: "127.0.0.1:${other}" }`, `http: { listen: "127.0.0.1:${await freePort()}" }`, 'dmarc: { mode: "off" }'].join('\n'),
  );
  const again = await runFerry(['reload', '--wait', '20000'], { env });
  t.equal(again.code, 3);
  t.equal(again.stderr, 'ferry: restart needed for: http.listen, smtp.listen (the relay keeps the old values until it restarts)\n');

  // back to the addresses it runs with: nothing waits for a restart
  write(smtpPort, ['dmarc: { mode: "off" }']);
  const back = await runFerry(['reload', '--wait', '20000'], { env });
  t.equal(back.code, 0, back.stderr);
  t.equal(back.stderr, '');

  relay.child.kill('SIGTERM');
  t.equal((await relay.exited).code, 0);
});

t.test('which hostnames count as fully qualified', async (t) => {
  for (const name of ['relay.example.com', 'mx1.example.co.uk', 'ferry.test', 'relay.example.com.']) t.ok(isFullyQualified(name), name);
  for (const name of ['vm', 'localhost', '192.168.1.10', 'bad_name.example.com', '-x.example.com', 'host.123']) t.notOk(isFullyQualified(name), name);
});
