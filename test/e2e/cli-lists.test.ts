import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// `events list` through the real `ferry` command: newest first, a page at a
// time (--limit, --before), and a line saying how much more there is.

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

/** n messages one minute apart, M001 oldest; each has one recipient and one `queued` event. */
function seed(dataDir: string, n: number): void {
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const queue = createQueueStore(db);
  for (let i = 1; i <= n; i++) {
    const id = `M${String(i).padStart(3, '0')}`;
    queue.accept([
      {
        message: {
          id, createdAt: T0 + i * 60_000, sender: 'app@sender.test', username: null, clientIp: null, helo: null, tls: null, size: 1,
          headers: Buffer.from('\r\n'), body: null, spoolFile: null, headerFrom: null, messageIdHeader: `<${id}@sender.test>`,
          subject: null, eightBit: false, smtputf8: false, kind: 'submission',
        },
        recipients: [{ address: `r${i}@x.test`, domain: 'x.test', status: 'queued', reason: null, category: null }],
      },
    ]);
  }
  db.close();
}

t.test('events list: newest first, "N more" and --before pages', async (t) => {
  const dir = tempDir(t);
  seed(dir, 7);
  const env = { FERRY_DATA_DIR: dir };

  const first = await runFerry(['events', 'list', '--limit', '3'], { env });
  t.equal(first.code, 0, first.stderr);
  const ids = [...first.stdout.matchAll(/│ (M\d{3})/g)].map((m) => m[1]);
  t.same(ids, ['M007', 'M006', 'M005'], 'newest first');
  t.match(first.stdout, /^4 more; use --limit or --before 5$/m);

  const second = await runFerry(['events', 'list', '--limit', '3', '--before', '5', '--json'], { env });
  t.equal(second.code, 0, second.stderr);
  t.same((JSON.parse(second.stdout) as { id: number }[]).map((e) => e.id), [4, 3, 2]);
  t.equal(second.stderr, '1 more; use --limit or --before 2\n', 'with --json the note goes to stderr; stdout stays one document');

  const last = await runFerry(['events', 'list', '--limit', '3', '--before', '2'], { env });
  t.match(last.stdout, /M001/);
  t.notMatch(last.stdout, /more; use/, 'no note when nothing is left');

  const all = await runFerry(['events', 'list'], { env });
  t.notMatch(all.stdout, /more; use/, 'under the default limit of 100: no note');
});
