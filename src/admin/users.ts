import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { generatePassword, hashPassword } from '../policy/passwords.js';
import { parseAddress } from '../policy/addresses.js';
import type { UserQuota } from '../core/store-types.js';
import { parseQuotaWindows } from '../throttle/quotas.js';
import type { CliContext } from './context.js';
import { isoTime, json, parsePositiveInt, table } from './format.js';

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

export function registerUsersCommands(program: Command, ctx: CliContext): void {
  const users = program.command('users').description('SMTP users who may relay through Ferry');

  users
    .command('add <name>')
    .description('add a user; prints a generated password once unless --password-stdin is given')
    .option('--from-domains <list>', 'comma-separated sender domains this user may use (default: any)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--max-messages-per-hour <n>', 'intake quota: messages per hour (451 4.7.1 beyond it)')
    .option('--max-recipients-per-day <n>', 'intake quota: recipients per day (451 4.7.1 beyond it)')
    .action(async (name: string, opts: { fromDomains?: string; passwordStdin?: boolean } & QuotaOptions) => {
      const quota = parseQuotaOptions(opts, null);
      if (!USER_NAME.test(name)) {
        throw new FerryError('FERRY_ERR_USAGE', `user name ${JSON.stringify(name)}: use letters, digits and . _ @ + - (at most 128)`);
      }
      const domains = parseDomains(opts.fromDomains);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      const store = await ctx.store();
      if (!(await store.users.add(name, await hashPassword(password), domains, ctx.clock.now()))) {
        throw new FerryError('FERRY_ERR_EXISTS', `user ${name} already exists (use "ferry users passwd ${name}" to change the password)`);
      }
      if (quota) await store.quota.set(name, quota, ctx.clock.now());
      ctx.io.stdout.write(`added user ${name}${domains.length ? ` (sender domains: ${domains.join(', ')})` : ''}${quota ? ` (quota: ${quotaText(quota)})` : ''}\n`);
      if (!given) ctx.io.stdout.write(`password: ${password}\n(shown once: store it now)\n`);
    });

  users
    .command('list')
    .description('list users')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.store();
      const rows = await store.users.list();
      const now = ctx.clock.now();
      const quotaOf = new Map<string, UserQuota | undefined>();
      const usageOf = new Map<string, { messagesLastHour: number; recipientsLastDay: number }>();
      for (const u of rows) {
        quotaOf.set(u.name, await store.quota.get(u.name));
        const w = parseQuotaWindows((await store.quota.state(u.name))?.windows, now);
        usageOf.set(u.name, { messagesLastHour: w.messages.used(now), recipientsLastDay: w.recipients.used(now) });
      }
      const quotas = { get: (name: string) => quotaOf.get(name) };
      const usage = (name: string) => usageOf.get(name)!;
      if (opts.json) {
        ctx.io.stdout.write(
          json(
            rows.map((u) => {
              const q = quotas.get(u.name);
              return {
                name: u.name,
                fromDomains: u.fromDomains,
                quota: { maxMessagesPerHour: q?.maxMessagesPerHour ?? null, maxRecipientsPerDay: q?.maxRecipientsPerDay ?? null },
                usage: usage(u.name),
                oneClickUnsubscribe: u.oneClickUnsubscribe,
                createdAt: isoTime(u.createdAt),
                updatedAt: isoTime(u.updatedAt),
              };
            }),
          ),
        );
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write('no users (add one with "ferry users add NAME")\n');
        return;
      }
      ctx.io.stdout.write(
        table(
          ['name', 'sender domains', 'messages last hour', 'recipients last day', 'created'],
          rows.map((u) => {
            const q = quotas.get(u.name);
            const used = usage(u.name);
            return [
              u.name,
              u.fromDomains.join(', ') || '(any)',
              `${used.messagesLastHour}${q?.maxMessagesPerHour ? ` / ${q.maxMessagesPerHour}` : ' (no quota)'}`,
              `${used.recipientsLastDay}${q?.maxRecipientsPerDay ? ` / ${q.maxRecipientsPerDay}` : ' (no quota)'}`,
              isoTime(u.createdAt),
            ];
          }),
          ctx.io.columns,
        ),
      );
    });

  users
    .command('one-click <name> <on|off>')
    .description('one-click unsubscribe (RFC 8058): on: Ferry adds List-Unsubscribe to every message this user sends')
    .action(async (name: string, value: string) => {
      if (value !== 'on' && value !== 'off') throw new FerryError('FERRY_ERR_USAGE', `one-click ${JSON.stringify(value)}: expected on or off`);
      if (!(await (await ctx.store()).users.setOneClickUnsubscribe(name, value === 'on', ctx.clock.now()))) {
        throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      }
      ctx.io.stdout.write(`${name}: one-click unsubscribe ${value}\n`);
    });

  users
    .command('quota <name>')
    .description('set or clear intake quotas ("none" clears one); without options, shows them')
    .option('--max-messages-per-hour <n>', 'messages per hour, or none')
    .option('--max-recipients-per-day <n>', 'recipients per day, or none')
    .action(async (name: string, opts: QuotaOptions) => {
      const store = await ctx.store();
      if (!(await store.users.get(name))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      const existing = (await store.quota.get(name)) ?? null;
      const quota = parseQuotaOptions(opts, existing);
      if (quota) await store.quota.set(name, quota, ctx.clock.now());
      const now = await store.quota.get(name);
      ctx.io.stdout.write(`${name}: ${now ? quotaText(now) : 'no quotas'}${quota ? '' : ' (unchanged)'}\n`);
    });

  users
    .command('remove <name>')
    .description('remove a user')
    .action(async (name: string) => {
      if (!(await (await ctx.store()).users.remove(name))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      ctx.io.stdout.write(`removed user ${name}\n`);
    });

  users
    .command('passwd <name>')
    .description('set a new password; prints a generated one unless --password-stdin is given')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { passwordStdin?: boolean }) => {
      const repo = (await ctx.store()).users;
      if (!(await repo.get(name))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no user named ${name}`);
      const given = opts.passwordStdin ? await readPassword(ctx) : null;
      const password = given ?? generatePassword();
      await repo.setPassword(name, await hashPassword(password), ctx.clock.now());
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

export async function readPassword(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.io.stdin as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 8) throw new FerryError('FERRY_ERR_USAGE', 'password from stdin: at least 8 characters are required');
  if (password.includes('\n')) throw new FerryError('FERRY_ERR_USAGE', 'password from stdin: must be a single line');
  return password;
}

interface QuotaOptions {
  maxMessagesPerHour?: string;
  maxRecipientsPerDay?: string;
}

/** null when neither option is given; "none" clears a quota. */
function parseQuotaOptions(opts: QuotaOptions, existing: UserQuota | null): { maxMessagesPerHour: number | null; maxRecipientsPerDay: number | null } | null {
  if (opts.maxMessagesPerHour === undefined && opts.maxRecipientsPerDay === undefined) return null;
  const parse = (v: string | undefined, option: string, old: number | null): number | null => {
    if (v === undefined) return old;
    if (v.trim().toLowerCase() === 'none') return null;
    return parsePositiveInt(v, option);
  };
  return {
    maxMessagesPerHour: parse(opts.maxMessagesPerHour, '--max-messages-per-hour', existing?.maxMessagesPerHour ?? null),
    maxRecipientsPerDay: parse(opts.maxRecipientsPerDay, '--max-recipients-per-day', existing?.maxRecipientsPerDay ?? null),
  };
}

function quotaText(q: { maxMessagesPerHour: number | null; maxRecipientsPerDay: number | null }): string {
  return [
    q.maxMessagesPerHour ? `${q.maxMessagesPerHour} messages per hour` : 'no message quota',
    q.maxRecipientsPerDay ? `${q.maxRecipientsPerDay} recipients per day` : 'no recipient quota',
  ].join(', ');
}
