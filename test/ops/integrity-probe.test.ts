import t from 'tap';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { createIntegrityProbe } from '../../src/ops/integrity-probe.js';
import { openDatabase } from '../../src/store/db.js';
import { checkIntegrity, startupCheck } from '../../src/store/integrity.js';
import Database from '../../src/store/sqlite-driver.js';
import { tempDir } from '../helpers/relay.js';

function filledDb(dir: string): string {
  const file = join(dir, 'ferry.db');
  const db = openDatabase({ file });
  db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO filler (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) ins.run(`value number ${i}`);
  })();
  db.close();
  return file;
}

function smash(file: string): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(16 * 1024, 0xa5), 0, 16 * 1024, Math.floor(statSync(file).size / 2));
  closeSync(fd);
}

t.test('the /readyz integrity check: at most once per interval, on what is on disk; busy is not a verdict', async (t) => {
  const file = filledDb(tempDir(t));
  const clock = new ManualClock();
  const probe = createIntegrityProbe({ file, clock, intervalMs: 60_000 });
  t.same(probe.check(), { name: 'integrity', ok: true, detail: 'quick_check ok' });
  smash(file);
  t.equal(probe.check().ok, true, 'within the interval: the last verdict');
  clock.advance(60_000);
  const bad = probe.check();
  t.equal(bad.ok, false, 'checked again: corrupt');
  t.match(bad.detail, /^database corrupt: /);

  const big = createIntegrityProbe({ file, clock, maxBytes: 1024 });
  t.match(big.check(), { ok: true, detail: /not checked here .*ferry doctor --data/ });
  const missing = createIntegrityProbe({ file: join(tempDir(t), 'none.db'), clock });
  t.match(missing.check(), { ok: false, detail: /cannot look at/ });
});

t.test('a database another process holds exclusively: not checked, asked again next time', async (t) => {
  const file = filledDb(tempDir(t));
  const other = new Database(file);
  other.pragma('locking_mode = EXCLUSIVE');
  other.exec('BEGIN EXCLUSIVE');
  const clock = new ManualClock();
  const probe = createIntegrityProbe({ file, clock });
  t.match(probe.check(), { ok: true, detail: /busy/ });
  other.exec('COMMIT');
  other.close();
  t.same(probe.check(), { name: 'integrity', ok: true, detail: 'quick_check ok' }, 'checked as soon as it can');
});

t.test('the start-up check: quick_check up to the size bound, header and schema above it', async (t) => {
  const file = filledDb(tempDir(t));
  const db = new Database(file);
  t.teardown(() => db.close());
  t.same(startupCheck(db, file, 10, 100), { ok: true, problems: [], check: 'quick_check' });
  t.same(startupCheck(db, file, 1000, 100), { ok: true, problems: [], check: 'header' });
  t.same(checkIntegrity(db, 'integrity_check'), { ok: true, problems: [], check: 'integrity_check' });

  const header = join(tempDir(t), 'header.db');
  openDatabase({ file: header }).close();
  const fd = openSync(header, 'r+');
  writeSync(fd, Buffer.alloc(100, 0x5a), 0, 100, 0);
  closeSync(fd);
  const broken = new Database(header);
  t.teardown(() => broken.close());
  t.throws(() => startupCheck(broken, header, 1000, 100), { code: 'FERRY_ERR_CORRUPT', message: /header.db is corrupt \(header: file is not a database\)/ });
  t.throws(() => startupCheck(broken, header, 10, 100), { code: 'FERRY_ERR_CORRUPT', message: /quick_check: file is not a database/ });
  t.throws(() => openDatabase({ file: header }), { code: 'FERRY_ERR_CORRUPT' }, 'opening it says corrupt, not "SqliteError"');
});
