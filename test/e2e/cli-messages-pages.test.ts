import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// `messages list` through the real `ferry` command: newest first, a page at a
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

t.test('messages list: newest first, "N more" and --before pages (no silent cut at 50)', async (t) => {
  const dir = tempDir(t);
  seed(dir, 55);
  const env = { FERRY_DATA_DIR: dir };

  const page = await runFerry(['messages', 'list'], { env });
  t.equal(page.code, 0, page.stderr);
  const ids = [...page.stdout.matchAll(/^│ (M\d{3})/gm)].map((m) => m[1]);
  t.equal(ids.length, 50);
  t.equal(ids[0], 'M055');
  t.equal(ids[49], 'M006');
  t.match(page.stdout, /^5 more; use --limit or --before M006$/m);

  const next = await runFerry(['messages', 'list', '--before', 'M006', '--json'], { env });
  t.equal(next.code, 0, next.stderr);
  t.same((JSON.parse(next.stdout) as { id: string }[]).map((m) => m.id), ['M005', 'M004', 'M003', 'M002', 'M001']);
  t.equal(next.stderr, '');

  const limited = await runFerry(['messages', 'list', '--limit', '2', '--before', 'M003'], { env });
  t.match(limited.stdout, /M002[\s\S]*M001/);
  t.notMatch(limited.stdout, /more; use/);

  const unknown = await runFerry(['messages', 'list', '--before', 'NOPE'], { env });
  t.equal(unknown.code, 2);
  t.equal(unknown.stderr, 'ferry: --before "NOPE": no message with that id\n');
});
