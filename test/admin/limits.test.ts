import t from 'tap';
import { registerLimitsCommands } from '../../src/admin/limits.js';
import { registerUsersCommands } from '../../src/admin/users.js';
import { createLimitsRepo } from '../../src/store/limits-repo.js';
import { createQuotaRepo } from '../../src/store/quota-repo.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerLimitsCommands(program, cli.ctx);
  registerUsersCommands(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

t.test('limits set / list / remove', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  t.match(await run(cli, 'limits', 'list'), /no limits configured/);

  t.match(await run(cli, 'limits', 'set', 'default', '--per-minute', '100', '--connections', '4'), /added limit default: 100 per minute, no limit per hour, no limit per day, 4 connections, 100 messages per connection/);
  t.match(await run(cli, 'limits', 'set', 'MX:Google.com.', '--per-hour', '1000'), /added limit mx:google\.com: 100 per minute, 1000 per hour/, 'unset fields inherit from default');
  t.match(await run(cli, 'limits', 'set', 'gmail.com', '--per-day', '5000', '--per-connection', '20'), /added limit gmail\.com/);
  t.match(await run(cli, 'limits', 'set', 'gmail.com', '--per-minute', '30'), /changed limit gmail\.com: 30 per minute, no limit per hour, 5000 per day, 4 connections, 20 messages/, 'other fields kept');
  t.match(await run(cli, 'limits', 'set', 'gmail.com', '--per-day', 'none'), /no limit per day/, '"none" clears a field');

  const list = await run(cli, 'limits', 'list');
  t.match(list, /default\s*│\s*100\s*│\s*-\s*│\s*-\s*│\s*4\s*│\s*\(100\)/);
  t.match(list, /gmail\.com\s*│\s*30\s*│\s*-\s*│\s*-\s*│\s*\(4\)\s*│\s*20/);
  t.match(list, /mx:google\.com\s*│\s*\(100\)\s*│\s*1000/);

  // usage and slow-down as a relay saved them
  const now = cli.ctx.clock.now();
  const slot = Math.floor(now / 1000);
  createLimitsRepo(cli.ctx.db()).saveStates([
    {
      bucket: 'gmail.com', target: 'gmail.com', windows: JSON.stringify({ minute: [[slot, 12]], hour: [[Math.floor(now / 60_000), 40]], day: [[Math.floor(now / 1_440_000), 90]] }),
      connections: 2, slowPerMinute: 15, slowRestoreTo: 30, slowSince: now - 60_000, slowUntil: now + 540_000, slowNextStepAt: now + 540_000,
      slowLastHalvedAt: now - 60_000, slowReason: '421 4.7.0 Try again later', updatedAt: now,
    },
  ]);
  const usage = await run(cli, 'limits', 'list');
  t.match(usage, /gmail\.com\s*│\s*gmail\.com\s*│\s*15 \(configured 30\)\s*│\s*12\/30\s*│\s*40\s*│\s*90\s*│\s*2\/4\s*│\s*15\/min until/);
  const js = JSON.parse(await run(cli, 'limits', 'list', '--json')) as { limits: unknown[]; budgets: { bucket: string; effectivePerMinute: number; used: { minute: number }; slowDown: { perMinute: number } }[] };
  t.equal(js.limits.length, 3);
  t.match(js.budgets[0], { bucket: 'gmail.com', effectivePerMinute: 15, used: { minute: 12, hour: 40, day: 90 }, slowDown: { perMinute: 15, restoreTo: 30 } });

  t.match(await run(cli, 'limits', 'remove', 'mx:google.com'), /removed limit mx:google\.com/);
  await t.rejects(run(cli, 'limits', 'remove', 'mx:google.com'), { code: 'FERRY_ERR_NOT_FOUND', message: /no limit for mx:google\.com/ });
});

t.test('limits set refuses what it cannot mean', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  await t.rejects(run(cli, 'limits', 'set', 'not a domain', '--per-minute', '1'), { code: 'FERRY_ERR_USAGE', message: /expected "default", a recipient domain/ });
  await t.rejects(run(cli, 'limits', 'set', 'mx:', '--per-minute', '1'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'limits', 'set', 'gmail.com', '--per-minute', '0'), { code: 'FERRY_ERR_USAGE', message: /positive whole number/ });
  await t.rejects(run(cli, 'limits', 'set', 'gmail.com', '--per-minute', '1.5'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'limits', 'set', 'gmail.com'), { code: 'FERRY_ERR_USAGE', message: /give at least one/ });
  t.same(createLimitsRepo(cli.ctx.db()).list(), [], 'nothing was written');
});

t.test('users: quotas on add, `users quota`, and shown in `users list`', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  t.match(await run(cli, 'users', 'add', 'app', '--max-messages-per-hour', '100', '--max-recipients-per-day', '5000'), /added user app \(quota: 100 messages per hour, 5000 recipients per day\)/);
  await run(cli, 'users', 'add', 'plain');
  await t.rejects(run(cli, 'users', 'add', 'bad', '--max-messages-per-hour', 'lots'), { code: 'FERRY_ERR_USAGE' });
  t.notOk((await run(cli, 'users', 'list')).includes('bad'), 'a refused quota adds no user');

  const now = cli.ctx.clock.now();
  createQuotaRepo(cli.ctx.db()).saveStates([{ username: 'app', windows: JSON.stringify({ messages: [[Math.floor(now / 60_000), 7]], recipients: [[Math.floor(now / 1_440_000), 42]] }), updatedAt: now }]);
  const list = await run(cli, 'users', 'list');
  t.match(list, /app\s*│\s*\(any\)\s*│\s*7 \/ 100\s*│\s*42 \/ 5000/);
  t.match(list, /plain\s*│\s*\(any\)\s*│\s*0 \(no quota\)\s*│\s*0 \(no quota\)/);

  t.match(await run(cli, 'users', 'quota', 'app', '--max-messages-per-hour', 'none'), /app: no message quota, 5000 recipients per day/);
  t.match(await run(cli, 'users', 'quota', 'app'), /app: no message quota, 5000 recipients per day \(unchanged\)/);
  t.match(await run(cli, 'users', 'quota', 'plain', '--max-recipients-per-day', '10'), /plain: no message quota, 10 recipients per day/);
  await t.rejects(run(cli, 'users', 'quota', 'nobody', '--max-recipients-per-day', '10'), { code: 'FERRY_ERR_NOT_FOUND' });
  const js = JSON.parse(await run(cli, 'users', 'list', '--json')) as { name: string; quota: unknown; usage: unknown }[];
  t.match(js.find((u) => u.name === 'app'), { quota: { maxMessagesPerHour: null, maxRecipientsPerDay: 5000 }, usage: { messagesLastHour: 7, recipientsLastDay: 42 } });

  await run(cli, 'users', 'remove', 'plain');
  t.equal(createQuotaRepo(cli.ctx.db()).get('plain'), undefined, 'the quota goes with the user');
});
