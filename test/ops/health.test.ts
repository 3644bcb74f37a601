import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDiskGuard } from '../../src/ops/disk-guard.js';
import { createReadiness } from '../../src/ops/health.js';
import { openDatabase } from '../../src/store/db.js';

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-health-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  t.teardown(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const disk = createDiskGuard({
    path: dir,
    thresholds: { minFreeBytes: 0, minFreePercent: 0, checkIntervalMs: 1000 },
    clock: new ManualClock(),
    logger: silentLogger(),
  });
  let listening = true;
  const readiness = createReadiness({ db, disk, listening: () => ({ ok: listening, detail: listening ? 'bound' : 'shutting down' }) });
  return { db, readiness, stopListening: () => (listening = false) };
}

t.test('all checks pass on a writable database with the listeners bound', async (t) => {
  const { readiness } = setup(t);
  const r = readiness.check();
  t.equal(r.ok, true);
  t.same(r.checks.map((c) => c.detail), ['writable', 'not measured yet', 'bound']);
});

t.test('an open iterator on the connection is busy, not broken; nothing is left in a transaction', async (t) => {
  const { db, readiness } = setup(t);
  db.exec('CREATE TABLE IF NOT EXISTS tmp_rows (n INTEGER); INSERT INTO tmp_rows VALUES (1), (2)');
  const it = db.prepare('SELECT n FROM tmp_rows').iterate();
  it.next();
  const r = readiness.check();
  t.equal(r.checks[0]!.ok, true);
  t.match(r.checks[0]!.detail, /^busy, not probed/);
  it.return?.();
  t.equal(db.inTransaction, false);
  t.equal(readiness.check().checks[0]!.detail, 'writable');
});

t.test('a closed database and unbound listeners fail, each named', async (t) => {
  const { db, readiness, stopListening } = setup(t);
  stopListening();
  db.close();
  const r = readiness.check();
  t.equal(r.ok, false);
  t.same(r.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]), [
    ['database', 'the database is closed'],
    ['listeners', 'shutting down'],
  ]);
});
