import t from 'tap';
import { registerPruneCommand } from '../../src/admin/prune.js';
import { ManualClock } from '../../src/core/clock.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';
import { NOW, seed } from '../ops/fixtures/seed.js';

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerPruneCommand(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

t.test('ferry prune for people: what went, what was held back and why, --days', async (t) => {
  const cli = makeCli({ retention: { keepBodiesHours: 1 } }, new ManualClock(NOW));
  t.teardown(() => cli.close());
  const db = cli.ctx.db();
  seed(db);
  // A finished message whose body is large (3 MB, recorded size) and one still in the DSN outbox.
  const store = createQueueStore(db);
  const headers = Buffer.from('From: app@ferry.test\r\n\r\n');
  store.accept([
    {
      message: {
        id: 'BIG', createdAt: NOW - 50 * 3_600_000, sender: '', username: null, clientIp: null, helo: null, tls: null, size: headers.length + 3 * 1024 * 1024,
        headers, body: Buffer.from('x'), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: [{ address: 'd@x.test', domain: 'x.test', status: 'dropped', reason: 'suppressed', category: 'user_unknown' }],
    },
  ]);
  db.prepare("INSERT INTO dsn_outbox (message_id, recipients, created_at) VALUES ('BIG', '[]', ?)").run(NOW);

  const dry = await run(cli, 'prune', '--dry-run');
  t.match(dry, /^Dry run: nothing was deleted\./);
  t.match(dry, /bodies of finished messages \(finished 1 h ago or more\)\s*│\s*2 \(0 spool files, 3\.0 MB\)/);
  t.match(dry, /messages finished more than 30 days ago\s*│\s*0/);

  const out = await run(cli, 'prune', '--days', '1');
  t.match(out, /^Prune finished\./);
  t.match(out, /messages finished more than 1 days ago\s*│\s*1/, 'M0 (48 h) goes with --days 1');
  t.match(out, /kept though old enough: 1 with a DSN not yet queued, 0 with events a webhook URL has not been sent/);
  t.ok(db.prepare("SELECT 1 FROM messages WHERE id = 'BIG'").get(), 'BIG is held back by its DSN');

  const kept = await run(cli, 'prune', '--days', '0');
  t.match(kept, /retention\.days is 0: records are kept/);
  t.match(kept, /│\s*0 \(0 spool files, 0 B\)/);
});
