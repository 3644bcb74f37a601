import t from 'tap';
import { migrate, openDatabase } from '../../src/store/db.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { testDb } from '../helpers/store.js';

t.test('migrations are applied once, and re-applying is a no-op', async (t) => {
  const { db, file } = testDb(t);
  const latest = Math.max(...MIGRATIONS.map((m) => m.version));
  const rows = () => db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
  t.same(rows().map((r) => r.version), [...MIGRATIONS].map((m) => m.version).sort((a, b) => a - b), 'every migration recorded once');
  t.equal(migrate(db), latest);
  t.equal(migrate(db), latest);
  t.equal(rows().length, MIGRATIONS.length, 'still once each after migrating again');

  db.prepare("INSERT INTO users (name, password_hash, from_domains, created_at, updated_at) VALUES ('keep', 'h', '[]', 1, 1)").run();
  db.close();
  const again = openDatabase({ file });
  t.teardown(() => again.close());
  t.equal((again.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number }).n, MIGRATIONS.length);
  t.equal((again.prepare('SELECT name FROM users').get() as { name: string }).name, 'keep', 'data survives reopening');
});

t.test('the database is opened in WAL mode with synchronous=FULL', async (t) => {
  const { db } = testDb(t);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.ok((db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
});

// The writer thread switches the durability level per transaction with db.exec (writer-thread.ts):
// SQLite applies this PRAGMA while compiling it, so a prepared copy run again would not (smtp13).
t.test('the synchronous level set through db.exec takes effect at once, each time', async (t) => {
  const { db } = testDb(t);
  for (let i = 0; i < 3; i++) {
    db.exec('PRAGMA synchronous = NORMAL');
    t.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
    db.exec('PRAGMA synchronous = FULL');
    t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  }
});

t.test('011 rebuilds the suppression list to allow source one-click, keeping every entry', async (t) => {
  const { dir } = testDb(t);
  const file = `${dir}/old.db`;
  const { default: Database } = await import('../../src/store/sqlite-driver.js');
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of [...MIGRATIONS].filter((m) => m.version < 11).sort((a, b) => a.version - b.version)) {
    old.exec(m.up);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
  }
  old.prepare("INSERT INTO suppressions (id, address, domain, category, reason, source, scope, created_at, hits) VALUES (7, 'a@x.test', 'x.test', 'user_unknown', 'r', 'bounce', 'shop', 5, 3)").run();
  old.close();

  const db = openDatabase({ file });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT id, address, category, source, scope, created_at, hits FROM suppressions').all(), [
    { id: 7, address: 'a@x.test', category: 'user_unknown', source: 'bounce', scope: 'shop', created_at: 5, hits: 3 },
  ]);
  db.prepare("INSERT INTO suppressions (address, domain, category, source, created_at) VALUES ('b@x.test', 'x.test', 'unsubscribed', 'one-click', 6)").run();
  t.throws(() => db.prepare("INSERT INTO suppressions (address, domain, category, source, created_at) VALUES ('c@x.test', 'x.test', 'manual', 'bogus', 6)").run(), /CHECK/);
  t.throws(() => db.prepare("INSERT INTO suppressions (address, domain, category, source, scope, created_at) VALUES ('a@x.test', 'x.test', 'manual', 'manual', 'shop', 6)").run(), /UNIQUE/, 'the unique index is back');
  t.same(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'suppressions' ORDER BY name").all() as { name: string }[]).map((r) => r.name),
    ['suppressions_address_scope', 'suppressions_created', 'suppressions_domain'],
  );
});
