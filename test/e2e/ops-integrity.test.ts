import t from 'tap';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { openDatabase } from '../../src/store/db.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { freePort, runFerry, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';

/** 16 KB of (seeded, so every run is the same) random bytes written into the middle of the file. */
function corruptMiddle(file: string): void {
  const chunks: Buffer[] = [];
  let h = Buffer.from('ferry-integrity-test');
  while (chunks.length * 32 < 16 * 1024) chunks.push((h = createHash('sha256').update(h).digest()));
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.concat(chunks), 0, 16 * 1024, Math.floor(size / 2));
  closeSync(fd);
}

/** A data directory whose database is a few MB of b-tree pages (suppressions), closed cleanly. */
function populatedDataDir(t: Tap.Test): string {
  const dataDir = join(tempDir(t), 'data');
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const list = testSuppressions(db);
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) list.suppress(`user${i}@example.com`, 'user_unknown', `reason ${i}`, 'manual');
  })();
  db.close();
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
  return dataDir;
}

/**
 * A corrupt database is not served as healthy: `ferry start` runs PRAGMA quick_check and stops
 * with one line pointing at the recovery docs, exit 4 (a config error is 1); a relay whose
 * database goes bad while it runs answers /readyz 503 and `ferry status` says CORRUPT (exit 4);
 * `ferry doctor --data` runs the full integrity_check.
 */
t.test('16 KB of random bytes in the middle of the database: start refuses with exit 4, doctor --data fails', async (t) => {
  const dataDir = populatedDataDir(t);
  const env = { FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: '127.0.0.1:0', FERRY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` };
  const healthy = await runFerry(['doctor', '--data'], { env });
  t.equal(healthy.code, 0, `doctor --data on a sound database: ${healthy.stderr}`);
  t.match(healthy.stdout, /^PASS\s+integrity\s+PRAGMA integrity_check: ok/m);

  corruptMiddle(join(dataDir, 'ferry.db'));
  const start = await runFerry(['start'], { env });
  t.equal(start.code, 4, 'exit 4: the database is corrupt');
  t.equal(start.stdout, '', 'nothing started, nothing logged');
  t.equal(start.stderr.split('\n').length, 2, 'one line');
  t.match(start.stderr, new RegExp(`^ferry: the database ${join(dataDir, 'ferry.db')} is corrupt \\(quick_check: .+\\): .*restore a backup or recover it: see README "Recovering from a corrupt database"\\n$`));

  const doctor = await runFerry(['doctor', '--data'], { env });
  t.equal(doctor.code, 4);
  t.match(doctor.stdout, /^FAIL\s+integrity\s+PRAGMA integrity_check: .+ — fix: restore a backup/m);
  t.match(doctor.stderr, /^ferry: the database .* is corrupt \(integrity_check: /);

  const badConfig = join(dataDir, 'bad.yaml');
  writeFileSync(badConfig, 'smtp:\n  nonsense: 1\n');
  t.equal((await runFerry(['start'], { env: { ...env, FERRY_CONFIG: badConfig } })).code, 1, 'a config error is exit 1, not 4');
});

t.test('the database goes bad while the relay runs: /readyz 503 and ferry status not healthy (exit 4)', async (t) => {
  const dataDir = populatedDataDir(t);
  const httpPort = await freePort();
  const env = { FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: '127.0.0.1:0', FERRY_HTTP_LISTEN: `127.0.0.1:${httpPort}` };
  const relay: RunningFerry = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill('SIGKILL');
    await relay.exited;
  });
  corruptMiddle(join(dataDir, 'ferry.db'));

  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  t.equal(ready.status, 503, '/readyz: not ready');
  const body = (await ready.json()) as { failing?: string[] };
  t.ok(body.failing?.includes('integrity'), `the failing check is named: ${JSON.stringify(body)}`);

  const status = await runFerry(['status'], { env });
  t.equal(status.code, 4, 'status exits 4');
  t.match(status.stdout, /^database\s+CORRUPT: /m);
  t.match(status.stdout, /not ready \(.*integrity.*\)/, 'the relay itself says not ready');
  t.match(status.stderr, /^ferry: the database .* is corrupt/);
});
