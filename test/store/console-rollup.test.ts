import t from 'tap';
import { join } from 'node:path';
import Database from '../../src/store/sqlite-driver.js';
import { migrate, type Db } from '../../src/store/db.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { tempDir } from '../helpers/relay.js';
import { createEventsRepo } from '../../src/store/events-repo.js';

// Migration 012 on a store that already has history: the hourly rollups are backfilled from the
// last 31 days of events, then kept by the events repository (the triggers of 012 until 021).

const H = 3_600_000;

t.test('backfill from existing events, then the events repository keeps counting', async (t) => {
  const db = new Database(join(tempDir(t), 'ferry.db')) as unknown as Db;
  t.teardown(() => db.close());
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of [...MIGRATIONS].filter((m) => m.version < 12).sort((a, b) => a.version - b.version)) {
    db.exec(m.up);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
  }
  const now = 1_800_000_000_000;
  const add = db.prepare("INSERT INTO events (at, message_id, recipient, type, status, category) VALUES (?, 'm', ?, ?, ?, ?)");
  add.run(now, 'a@Gmail.com', 'delivered', 'delivered', null);
  add.run(now, 'b@gmail.com', 'bounced', 'bounced', 'user_unknown');
  add.run(now - 2 * H, 'c@yahoo.com', 'deferred', 'deferred', 'rate_limited');
  add.run(now - 2 * H, 'c@yahoo.com', 'complaint', 'delivered', 'complaint');
  add.run(now - 40 * 24 * H, 'old@gmail.com', 'delivered', 'delivered', null);
  add.run(now, 'x@gmail.com', 'accepted', null, null);

  migrate(db);
  const row = (domain: string, hour: number) => db.prepare('SELECT delivered, deferred, bounced, dropped, expired, complained FROM stats_hourly WHERE domain = ? AND hour = ?').get(domain, hour);
  const hour = Math.floor(now / H);
  t.same(row('*', hour), { delivered: 1, deferred: 0, bounced: 1, dropped: 0, expired: 0, complained: 0 });
  t.same(row('gmail.com', hour), { delivered: 1, deferred: 0, bounced: 1, dropped: 0, expired: 0, complained: 0 }, 'domains lower-cased');
  t.same(row('yahoo.com', hour - 2), { delivered: 0, deferred: 1, bounced: 0, dropped: 0, expired: 0, complained: 1 });
  t.equal(row('gmail.com', Math.floor((now - 40 * 24 * H) / H)), undefined, 'older than 31 days: not backfilled');
  t.same(db.prepare('SELECT category, n FROM stats_categories_hourly ORDER BY category').all(), [{ category: 'user_unknown', n: 1 }]);

  // Since migration 021 the events repository counts what it appends (the triggers are gone).
  const events = createEventsRepo(db);
  const append = (at: number, recipient: string, type: string, category: string | null) =>
    events.append({ at, messageId: 'm', recipientId: null, recipient, type, status: type, category, detail: null });
  append(now + 1000, 'd@gmail.com', 'dropped', 'manual');
  append(now + 2000, 'e@GMAIL.com', 'expired', null);
  append(now + 3000, 'f@gmail.com', 'queued', null);
  events.append({ at: now + 4000, messageId: 'm', recipientId: null, recipient: null, type: 'delivered', status: 'delivered', category: null, detail: null });
  add.run(now + 5000, 'g@gmail.com', 'delivered', 'delivered', null);
  t.same(row('gmail.com', hour), { delivered: 1, deferred: 0, bounced: 1, dropped: 1, expired: 1, complained: 0 }, 'counted; not a queued event, one without a recipient, or a row written around the repository');
  t.same(row('*', hour), { delivered: 1, deferred: 0, bounced: 1, dropped: 1, expired: 1, complained: 0 });
  t.same(db.prepare('SELECT category, n FROM stats_categories_hourly ORDER BY category').all(), [{ category: 'manual', n: 1 }, { category: 'other', n: 1 }, { category: 'user_unknown', n: 1 }]);
  t.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").pluck().get(), 0, 'no trigger on the log since 021');
});
