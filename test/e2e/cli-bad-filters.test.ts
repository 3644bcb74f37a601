import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// Bad filter values through the real `ferry` command: exit 2 and one line naming what is allowed.

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

t.test('bad filter values: exit 2 and one line naming what is allowed, in every command', async (t) => {
  const dir = tempDir(t);
  seed(dir, 1);
  const env = { FERRY_DATA_DIR: dir };
  const cases: [string[], RegExp][] = [
    [['events', 'list', '--type', 'bogus'], /^ferry: --type "bogus": expected one of queued, deferred, delivered, bounced, dropped, expired, complaint, unsubscribed, suppression_added, .*limit_removed\n$/],
    [['events', 'tail', '--type', 'bogus', '--max-events', '1'], /^ferry: --type "bogus": expected one of queued, .*limit_removed\n$/],
    [['events', 'list', '--since', 'yesterday'], /^ferry: --since "yesterday": expected a duration \(1h, 7d\) or a date \(2026-11-01\)\n$/],
    // Date.parse alone would take "5" as May 2001 and list everything since then.
    [['events', 'list', '--since', '5'], /^ferry: --since "5": expected a duration/],
    [['messages', 'list', '--status', 'lost'], /^ferry: --status "lost": expected one of queued, deferred, delivered, bounced, dropped, expired\n$/],
    [['messages', 'list', '--since', 'June 1'], /^ferry: --since "June 1": expected a duration/],
    [['messages', 'list', '--limit', '0'], /^ferry: --limit "0": expected a positive whole number\n$/],
    [['events', 'list', '--before', 'x'], /^ferry: --before "x": expected a whole number\n$/],
    [['queue', 'list', '--status', 'stuck'], /^ferry: --status "stuck": expected one of queued, deferred, in-flight\n$/],
    [['stats', '--since', 'last week'], /^ferry: --since "last week": expected a duration/],
    [['suppressions', 'list', '--category', 'nope'], /^ferry: --category "nope": expected one of /],
  ];
  // a few at a time: each is a process start
  const results: Awaited<ReturnType<typeof runFerry>>[] = [];
  for (let i = 0; i < cases.length; i += 4) results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => runFerry(args, { env })))));
  for (const [i, [args, expected]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, expected, args.join(' '));
    t.equal(r.stderr.split('\n').length, 2, `${args.join(' ')}: one line`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
  // a good value still works
  const ok = await runFerry(['events', 'list', '--type', 'queued', '--since', '2026-11-01'], { env });
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /M001/);
});
