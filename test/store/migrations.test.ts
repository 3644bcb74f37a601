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
