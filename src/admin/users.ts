import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { generatePassword, hashPassword } from '../policy/passwords.js';
import { parseAddress } from '../policy/addresses.js';
import { createUsersRepo } from '../store/users-repo.js';
import type { CliContext } from './context.js';
import { isoTime, json, table } from './format.js';

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export function registerUsersCommands(program: Command, ctx: CliContext): void {
  const users = program.command('users').description('SMTP users who may relay through Ferry');

  users
    .command('add <name>')
    .description('add a user; prints a generated password once unless --password-stdin is given')
    .option('--from-domains <list>', 'comma-separated sender domains this user may use (default: any)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { fromDomains?: string; passwordStdin?: boolean }) => {
      if (!USER_NAME.test(name)) {
        throw new FerryError('FERRY_ERR_USAGE', `user name ${JSON.stringify(name)}: use letters, digits and . _ @ + - (at most 128)`);
      }
      const domains = parseDomains(opts.fromDomains);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      const repo = createUsersRepo(ctx.db());
      if (!repo.add(name, await hashPassword(password), domains, ctx.clock.now())) {
        throw new FerryError('FERRY_ERR_EXISTS', `user ${name} already exists (use "ferry users passwd ${name}" to change the password)`);
      }
      ctx.io.stdout.write(`added user ${name}${domains.length ? ` (sender domains: ${domains.join(', ')})` : ''}\n`);
      if (!given) ctx.io.stdout.write(`password: ${password}\n(shown once: store it now)\n`);
    });

  users
    .command('list')
    .description('list users')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const rows = createUsersRepo(ctx.db()).list();
      if (opts.json) {
        ctx.io.stdout.write(json(rows.map((u) => ({ name: u.name, fromDomains: u.fromDomains, createdAt: isoTime(u.createdAt), updatedAt: isoTime(u.updatedAt) }))));
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write('no users (add one with "ferry users add NAME")\n');
        return;
      }
      ctx.io.stdout.write(table(['name', 'sender domains', 'created'], rows.map((u) => [u.name, u.fromDomains.join(', ') || '(any)', isoTime(u.createdAt)])));
    });

  users
    .command('remove <name>')
    .description('remove a user')
    .action((name: string) => {
      if (!createUsersRepo(ctx.db()).remove(name)) throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      ctx.io.stdout.write(`removed user ${name}\n`);
    });

  users
    .command('passwd <name>')
    .description('set a new password; prints a generated one unless --password-stdin is given')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { passwordStdin?: boolean }) => {
      const repo = createUsersRepo(ctx.db());
      if (!repo.get(name)) throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      repo.setPassword(name, await hashPassword(password), ctx.clock.now());
      ctx.io.stdout.write(`password changed for ${name}\n`);
      if (!given) ctx.io.stdout.write(`password: ${password}\n(shown once: store it now)\n`);
    });
}

function parseDomains(list: string | undefined): string[] {
  if (!list) return [];
  const out: string[] = [];
  for (const raw of list.split(',').map((d) => d.trim()).filter(Boolean)) {
    const parsed = parseAddress(`x@${raw}`);
    if (!parsed) throw new FerryError('FERRY_ERR_USAGE', `--from-domains: ${JSON.stringify(raw)} is not a domain name`);
    out.push(parsed.domain);
  }
  return [...new Set(out)];
}

async function readPassword(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.io.stdin as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 8) throw new FerryError('FERRY_ERR_USAGE', 'password from stdin: at least 8 characters are required');
  if (password.includes('\n')) throw new FerryError('FERRY_ERR_USAGE', 'password from stdin: must be a single line');
  return password;
}
