import t from 'tap';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { openDatabase } from '../../src/store/db.js';
import { createAdminsRepo } from '../../src/store/admins-repo.js';
import { verifyPassword } from '../../src/policy/passwords.js';
import { join } from 'node:path';

// `ferry admins`: console accounts through the real command, apart from SMTP users.

t.test('add, list, passwd, remove', async (t) => {
  const dataDir = tempDir(t);
  const env = { FERRY_DATA_DIR: dataDir };
  const added = await runFerry(['admins', 'add', 'sam', '--role', 'support', '--password-stdin'], { env, stdin: 'support-password\n' });
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, 'added console account sam (support)\n');
  const generated = await runFerry(['admins', 'add', 'ada', '--role', 'admin'], { env });
  t.equal(generated.code, 0);
  const password = /password: (\S+)/.exec(generated.stdout)![1]!;

  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  t.teardown(() => db.close());
  const repo = createAdminsRepo(db);
  t.ok(await verifyPassword('support-password', repo.get('sam')!.passwordHash), 'scrypt hash of the given password');
  t.ok(await verifyPassword(password, repo.get('ada')!.passwordHash));
  t.equal(repo.get('ada')!.role, 'admin');
  t.equal(db.prepare('SELECT COUNT(*) AS n FROM users').get().n, 0, 'not an SMTP user');

  const dup = await runFerry(['admins', 'add', 'sam', '--role', 'admin', '--password-stdin'], { env, stdin: 'another-password' });
  t.equal(dup.code, 1);
  t.match(dup.stderr, /^ferry: console account sam already exists/);
  const badRole = await runFerry(['admins', 'add', 'x', '--role', 'root'], { env });
  t.equal(badRole.code, 2);
  t.match(badRole.stderr, /--role "root": expected admin or support/);
  const badName = await runFerry(['admins', 'add', '-x', '--role', 'admin'], { env });
  t.equal(badName.code, 2);
  const short = await runFerry(['admins', 'add', 'y', '--role', 'admin', '--password-stdin'], { env, stdin: 'short' });
  t.equal(short.code, 2);
  t.match(short.stderr, /at least 8 characters/);

  const list = await runFerry(['admins', 'list'], { env });
  t.match(list.stdout, /ada\s*│\s*admin/);
  t.match(list.stdout, /sam\s*│\s*support/);
  const json = JSON.parse((await runFerry(['admins', 'list', '--json'], { env })).stdout) as { name: string; role: string }[];
  t.same(json.map((a) => [a.name, a.role]), [['ada', 'admin'], ['sam', 'support']]);

  const passwd = await runFerry(['admins', 'passwd', 'sam', '--password-stdin'], { env, stdin: 'new-support-password\n' });
  t.equal(passwd.code, 0);
  t.ok(await verifyPassword('new-support-password', repo.get('sam')!.passwordHash));
  const passwdGenerated = await runFerry(['admins', 'passwd', 'sam'], { env });
  t.match(passwdGenerated.stdout, /password: \S+/);
  t.equal((await runFerry(['admins', 'passwd', 'nobody'], { env })).code, 1);

  t.equal((await runFerry(['admins', 'remove', 'sam'], { env })).code, 0);
  t.equal(repo.get('sam'), undefined);
  const missing = await runFerry(['admins', 'remove', 'sam'], { env });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no console account named sam/);
  t.equal((await runFerry(['admins', 'list'], { env: { FERRY_DATA_DIR: tempDir(t) } })).stdout, 'no console accounts (add one with "ferry admins add NAME --role admin")\n');
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
  t.match(await run('admins', 'passwd', 'ops'), /password changed for console account ops[^\n]*\npassword: \S+/);
  await t.rejects(run('admins', 'add', 'ops', '--role', 'admin'), { code: 'FERRY_ERR_EXISTS' });
  await t.rejects(run('admins', 'add', 'x', '--role', 'boss'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run('admins', 'add', '../x', '--role', 'admin'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run('admins', 'passwd', 'nobody'), { code: 'FERRY_ERR_NOT_FOUND' });
  t.equal(await run('admins', 'remove', 'help'), 'removed console account help\n');
  await t.rejects(run('admins', 'remove', 'help'), { code: 'FERRY_ERR_NOT_FOUND' });
});
