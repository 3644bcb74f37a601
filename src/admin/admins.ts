import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { generatePassword, hashPassword } from '../policy/passwords.js';
import { ADMIN_ROLES, type AdminRole } from '../store/admins-repo.js';
import type { CliContext } from './context.js';
import { isoTime, json, table } from './format.js';
import { readPassword } from './users.js';

const ADMIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/**
 * `ferry admins`: accounts for the web console, kept apart from SMTP users. `support` may search,
 * view, remove suppressions and retry; `admin` may also add, import and clear suppressions, purge
 * the queue and edit limits. A removed account's sessions end at its next request.
 */
export function registerAdminsCommands(program: Command, ctx: CliContext): void {
  const cmd = program.command('admins').description('web console accounts (separate from SMTP users)');
  const repo = async () => (await ctx.store()).admins;

  cmd
    .command('add <name>')
    .description('add a console account; prints a generated password once unless --password-stdin is given')
    .requiredOption('--role <role>', `what the account may do (${ADMIN_ROLES.join(' or ')})`)
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { role: string; passwordStdin?: boolean }) => {
      if (!ADMIN_NAME.test(name)) throw new FerryError('FERRY_ERR_USAGE', `account name ${JSON.stringify(name)}: use letters, digits and . _ @ + - (at most 64)`);
      if (!(ADMIN_ROLES as readonly string[]).includes(opts.role)) {
        throw new FerryError('FERRY_ERR_USAGE', `--role ${JSON.stringify(opts.role)}: expected ${ADMIN_ROLES.join(' or ')}`);
      }
      if (await (await repo()).get(name)) throw new FerryError('FERRY_ERR_EXISTS', `console account ${name} already exists (use "ferry admins passwd ${name}")`);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      if (!await (await repo()).add(name, await hashPassword(password), opts.role as AdminRole, ctx.clock.now())) {
        throw new FerryError('FERRY_ERR_EXISTS', `console account ${name} already exists`);
      }
      ctx.io.stdout.write(`added console account ${name} (${opts.role})\n`);
      if (!given) ctx.io.stdout.write(`password: ${password}\n(shown once: store it now)\n`);
    });

  cmd
    .command('list')
    .description('list console accounts')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const rows = await (await repo()).list();
      if (opts.json) {
        ctx.io.stdout.write(json(rows.map((a) => ({ name: a.name, role: a.role, createdAt: isoTime(a.createdAt), updatedAt: isoTime(a.updatedAt) }))));
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write('no console accounts (add one with "ferry admins add NAME --role admin")\n');
        return;
      }
      ctx.io.stdout.write(table(['name', 'role', 'created', 'password changed'], rows.map((a) => [a.name, a.role, isoTime(a.createdAt), isoTime(a.updatedAt)])));
    });

  cmd
    .command('remove <name>')
    .description('remove a console account (its open sessions end at their next request)')
    .action(async (name: string) => {
      if (!(await (await repo()).remove(name))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no console account named ${name}`);
      ctx.io.stdout.write(`removed console account ${name}\n`);
    });

  cmd
    .command('passwd <name>')
    .description('set a new password; prints a generated one unless --password-stdin is given')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { passwordStdin?: boolean }) => {
      if (!(await (await repo()).get(name))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no console account named ${name}`);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      await (await repo()).setPassword(name, await hashPassword(password), ctx.clock.now());
      ctx.io.stdout.write(`password changed for console account ${name} (its open sessions end)\n`);
      if (!given) ctx.io.stdout.write(`password: ${password}\n(shown once: store it now)\n`);
    });
}
