import t from 'tap';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { openDatabase } from '../../src/store/db.js';
import { createAdminsRepo } from '../../src/store/admins-repo.js';
import { verifyPassword } from '../../src/policy/passwords.js';
import { join } from 'node:path';

// `ferry admins`: console accounts through the real command, apart from SMTP users.

t.test('the real command: add, list, a usage error, a failure', async (t) => {
  const dataDir = tempDir(t);
  const env = { FERRY_DATA_DIR: dataDir };
  // admin commands act only on an existing database (issue 12)
  t.equal((await runFerry(['init'], { env })).code, 0);
  const added = await runFerry(['admins', 'add', 'sam', '--role', 'support', '--password-stdin'], { env, stdin: 'support-password\n' });
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, 'added console account sam (support)\n');
  const list = await runFerry(['admins', 'list'], { env });
  t.match(list.stdout, /sam\s*│\s*support/);
  const badRole = await runFerry(['admins', 'add', 'x', '--role', 'root'], { env });
  t.equal(badRole.code, 2);
  t.match(badRole.stderr, /^ferry: --role "root": expected admin or support\n$/);
  const missing = await runFerry(['admins', 'remove', 'nobody'], { env });
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'ferry: no console account named nobody\n');

  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  t.teardown(() => db.close());
  t.ok(await verifyPassword('support-password', createAdminsRepo(db).get('sam')!.passwordHash), 'scrypt hash of the given password');
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n, 0, 'not an SMTP user');
});

t.test('in-process: the same commands, errors as FerryError codes', async (t) => {
  const { makeCli, makeProgram } = await import('../sign/fixtures/helpers.js');
  const { registerAdminsCommands } = await import('../../src/admin/admins.js');
  const cli = makeCli();
  t.teardown(() => cli.close());
  const run = async (...args: string[]) => {
    const before = cli.out().length;
    const program = makeProgram();
    registerAdminsCommands(program, cli.ctx);
    await program.parseAsync(args, { from: 'user' });
    return cli.out().slice(before);
  };
  t.match(await run('admins', 'list'), /no console accounts/);
  t.match(await run('admins', 'add', 'ops', '--role', 'admin'), /added console account ops \(admin\)\npassword: \S{24}\n/);
  const stdin = cli.ctx.io.stdin as import('node:stream').PassThrough;
  stdin.end('helpdesk-pass\n');
  t.equal(await run('admins', 'add', 'help', '--role', 'support', '--password-stdin'), 'added console account help (support)\n');
  t.match(JSON.parse(await run('admins', 'list', '--json')), [{ name: 'help', role: 'support' }, { name: 'ops', role: 'admin' }]);
  t.match(await run('admins', 'list'), /help\s*│\s*support/);
  const before = createAdminsRepo(cli.ctx.db()).get('ops')!.passwordHash;
  t.match(await run('admins', 'passwd', 'ops'), /password changed for console account ops[^\n]*\npassword: \S+/);
  t.not(createAdminsRepo(cli.ctx.db()).get('ops')!.passwordHash, before, 'a new hash');
  await t.rejects(run('admins', 'add', 'ops', '--role', 'admin'), { code: 'FERRY_ERR_EXISTS' });
  await t.rejects(run('admins', 'add', 'x', '--role', 'boss'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run('admins', 'add', '../x', '--role', 'admin'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run('admins', 'passwd', 'nobody'), { code: 'FERRY_ERR_NOT_FOUND' });
  t.equal(await run('admins', 'remove', 'help'), 'removed console account help\n');
  await t.rejects(run('admins', 'remove', 'help'), { code: 'FERRY_ERR_NOT_FOUND' });
});
