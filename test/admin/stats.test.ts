import t from 'tap';
import { registerStatsCommand } from '../../src/admin/stats.js';
import { ManualClock } from '../../src/core/clock.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';
import { NOW, seed } from '../ops/fixtures/seed.js';

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerStatsCommand(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

t.test('stats --json: statuses, delivery rate, categories, problem destinations, queue, suppressions', async (t) => {
  const cli = makeCli({}, new ManualClock(NOW));
  t.teardown(() => cli.close());
  seed(cli.ctx.db());
  const r = JSON.parse(await run(cli, 'stats', '--json'));
  t.equal(r.messages, 2, 'M1 and M2 were accepted in the last 24 h (M0 is older)');
  t.same(r.recipients, { queued: 1, deferred: 1, delivered: 1, bounced: 1, expired: 0, dropped: 1, spam: 0 });
  t.equal(r.deliveryRate, 0.5, 'delivered / (delivered + bounced + expired)');
  t.same(r.attempts, { delivered: 1, bounced: 1, deferred: 2 });
  t.same(r.topBounceCategories, [{ category: 'user_unknown', count: 2 }], 'the bounce and the dropped recipient');
  t.same(r.problemDestinations, [{ domain: 'y.test', deferred: 2, bounced: 1 }]);
  t.same(r.queue, { queued: 1, deferred: 1 });
  t.equal(r.oldestQueued.messageId, 'M1', 'the deferred recipient of M1 has waited longest');
  t.equal(r.oldestQueued.recipient, 'slow@y.test');
  t.equal(r.oldestQueued.ageSeconds, 7200);
  t.same(r.suppressions, { total: 2, added: 1 });

  const week = JSON.parse(await run(cli, 'stats', '--since', '7d', '--json'));
  t.equal(week.messages, 3);
  t.equal(week.recipients.delivered, 2);
  t.same(week.suppressions, { total: 2, added: 2 });
});

t.test('stats prints readable tables', async (t) => {
  const cli = makeCli({}, new ManualClock(NOW));
  t.teardown(() => cli.close());
  seed(cli.ctx.db());
  const out = await run(cli, 'stats');
  t.match(out, 'Since 2026-01-14T12:00:00Z (24h): 2 messages accepted');
  t.match(out, /│ delivered\s*│ 1\s*│/);
  t.match(out, 'delivery rate: 50.0%');
  t.match(out, /│ user_unknown\s*│ 2\s*│/);
  t.match(out, /│ y\.test\s*│ 2\s*│ 1\s*│/);
  t.match(out, 'Queue now: 1 queued, 1 deferred');
  t.match(out, 'oldest waiting: M1 to slow@y.test (deferred), accepted 2026-01-15T10:00:00Z, 2h 0m ago, 2 attempts');
  t.match(out, 'Suppression list: 2 entries (+1 since');
});

t.test('an empty database: no rate, no rows, no failure', async (t) => {
  const cli = makeCli({}, new ManualClock(NOW));
  t.teardown(() => cli.close());
  const out = await run(cli, 'stats');
  t.match(out, 'delivery rate: n/a');
  t.match(out, 'Queue now: 0 queued, 0 deferred');
  await t.rejects(run(cli, 'stats', '--since', 'yesterday'), { code: 'FERRY_ERR_USAGE' });
});
