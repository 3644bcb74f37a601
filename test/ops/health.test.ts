import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDiskGuard } from '../../src/ops/disk-guard.js';
import { createReadiness } from '../../src/ops/health.js';
import { openDatabase } from '../../src/store/db.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import Database from '../../src/store/sqlite-driver.js';

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0], probe?: () => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-health-'));
  const file = join(dir, 'ferry.db');
  const db = openDatabase({ file });
  db.pragma('busy_timeout = 100');
  t.teardown(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new ManualClock();
  const disk = createDiskGuard({
    path: dir,
    thresholds: { minFreeBytes: 0, minFreePercent: 0, checkIntervalMs: 1000 },
    clock,
    logger: silentLogger(),
  });
  let listening = true;
  const store = createInProcessSqliteStore(db);
  const readiness = createReadiness({
    store: probe ? { stats: { probeWrite: probe } } : store,
    clock,
    disk,
    lockWaitMs: 250,
    listening: () => ({ ok: listening, detail: listening ? 'bound' : 'shutting down' }),
  });
  return { db, file, clock, readiness, stopListening: () => (listening = false) };
}

t.test('all checks pass on a writable store with the listeners bound', async (t) => {
  const { readiness } = setup(t);
  const r = await readiness.check();
  t.equal(r.ok, true);
  t.same(r.checks.map((c) => c.detail), ['writable', 'not measured yet', 'bound']);
});

t.test('another process holding the write lock: not writable, named; writable again once it lets go', async (t) => {
  const { file, db, readiness } = setup(t);
  const other = new Database(file);
  t.teardown(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  });
  other.exec('BEGIN EXCLUSIVE');
  const r = await readiness.check();
  t.equal(r.ok, false);
  t.match(r.checks[0]!, { name: 'database', ok: false, detail: /^not writable: SQLITE_BUSY/ });
  other.exec('ROLLBACK');
  t.equal((await readiness.check()).checks[0]!.detail, 'writable');
  t.equal(db.inTransaction, false, 'the probe leaves nothing open');
});

t.test('a probe that does not answer fails the check after lockWaitMs; the next check waits for the same probe', async (t) => {
  let calls = 0;
  let answer: () => void = () => undefined;
  const { clock, readiness } = setup(t, () => {
    calls++;
    return new Promise<void>((resolve) => (answer = resolve));
  });
  const first = readiness.check();
  await new Promise((r) => setImmediate(r));
  clock.advance(250);
  const r = await first;
  t.match(r.checks[0]!, { ok: false, detail: /^not writable: a write probe has waited 250 ms/ });
  const second = readiness.check();
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'no second probe stacked behind the first');
  answer();
  t.equal((await second).checks[0]!.detail, 'writable');
});

t.test('a closed store and unbound listeners fail, each named', async (t) => {
  const { db, readiness, stopListening } = setup(t);
  stopListening();
  db.close();
  const r = await readiness.check();
  t.equal(r.ok, false);
  t.same(r.checks.filter((c) => !c.ok).map((c) => c.name), ['database', 'listeners']);
  t.match(r.checks[0]!.detail, /^not writable: /);
  t.equal(r.checks[2]!.detail, 'shutting down');
});
