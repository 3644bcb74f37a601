import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { FerryError } from '../core/errors.js';
import { SUPPRESSION_SOURCES, type SuppressionFilter, type SuppressionRow } from '../store/suppressions-repo.js';
import { csvHeader, csvLine, exportSuppressions, importSuppressions, jsonEntry } from '../suppress/csv.js';
import { isSuppressionCategory, SUPPRESSION_CATEGORIES, suppressionKey, type SuppressionKey } from '../suppress/normalize.js';
import { DROP_REASON_PREFIX } from '../suppress/recipient-policy.js';
import type { CliContext, CliStore } from './context.js';
import { isoTime, json, parseDuration, parsePositiveInt, parseSince, table } from './format.js';

const REASON_WIDTH = 48;

export function registerSuppressionsCommands(program: Command, ctx: CliContext): void {
  const cmd = program.command('suppressions').description('addresses and domains Ferry will not send to');
  const list = async () => (await ctx.store()).suppressions;

  cmd
    .command('list')
    .description('list entries, newest first')
    .option('--domain <domain>', 'only entries of this domain (its @domain entry and its addresses)')
    .option('--category <category>', `only this category (${SUPPRESSION_CATEGORIES.join(', ')})`)
    .option('--source <source>', `only this source (${SUPPRESSION_SOURCES.join(', ')})`)
    .option('--since <when>', 'only entries added since (1h, 7d, or a date)')
    .option('--search <text>', 'only entries whose address or reason contains this text')
    .option('--user <name>', 'only entries scoped to this SMTP user')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'machine-readable output')
    .option('--csv', 'CSV output (the import format)')
    .action(async (opts: { domain?: string; category?: string; source?: string; since?: string; search?: string; user?: string; limit: string; json?: boolean; csv?: boolean }) => {
      if (opts.json && opts.csv) throw new FerryError('FERRY_ERR_USAGE', 'choose one of --json and --csv');
      const filter: SuppressionFilter = {
        domain: opts.domain === undefined ? undefined : domainOf(opts.domain, '--domain'),
        category: opts.category === undefined ? undefined : category(opts.category),
        source: opts.source === undefined ? undefined : source(opts.source),
        since: opts.since === undefined ? undefined : parseSince(opts.since, '--since', ctx.clock.now()),
        search: opts.search,
        scope: opts.user,
      };
      const limit = parsePositiveInt(opts.limit, '--limit');
      const l = await list();
      const rows = await l.list(filter, limit);
      const out = ctx.io.stdout;
      if (opts.json) return void out.write(json(rows.map(jsonEntry)));
      if (opts.csv) return void out.write(csvHeader() + rows.map(csvLine).join(''));
      if (rows.length === 0) return void out.write('no suppressions match\n');
      const now = ctx.clock.now();
      const scoped = rows.some((r) => r.scope !== null);
      const head = ['address', 'category', 'reason', 'since', 'expires', 'hits', ...(scoped ? ['user'] : [])];
      out.write(
        table(
          head,
          rows.map((r) => [
            r.address,
            r.category,
            truncate(r.reason, REASON_WIDTH),
            isoTime(r.createdAt).slice(0, 10),
            r.expiresAt === null ? '' : `${isoTime(r.expiresAt).slice(0, 10)}${r.expiresAt <= now ? ' (expired)' : ''}`,
            r.hits,
            ...(scoped ? [r.scope ?? '(all)'] : []),
          ]),
          ctx.io.columns,
        ),
      );
      if (rows.length === limit) {
        const total = await l.count(filter);
        if (total > limit) out.write(`showing ${limit} of ${total} (use --limit)\n`);
      }
    });

  cmd
    .command('show <address>')
    .description('an entry and the messages it dropped')
    .option('--json', 'machine-readable output')
    .action(async (input: string, opts: { json?: boolean }) => {
      const key = keyOrFail(input);
      const l = await list();
      let entries = await l.forAddress(key.address);
      let via: string | null = null;
      if (entries.length === 0) {
        const effective = await effectiveEntry(l, key, ctx.clock.now());
        if (effective) {
          entries = [effective];
          via = effective.address;
        }
      }
      if (entries.length === 0) throw new FerryError('FERRY_ERR_NOT_FOUND', `${key.address} is not suppressed`);
      const drops = (await l.drops(key.address, 50)).filter((d) => d.reason === null || d.reason.startsWith(DROP_REASON_PREFIX));
      const out = ctx.io.stdout;
      if (opts.json) {
        out.write(json({ entries: entries.map(jsonEntry), drops: drops.map((d) => ({ ...d, at: isoTime(d.at) })) }));
        return;
      }
      if (via) out.write(`${key.address} is suppressed by the domain entry ${via}\n`);
      for (const e of entries) describe(out, e, ctx.clock.now());
      if (drops.length === 0) {
        out.write('\nno messages dropped\n');
        return;
      }
      out.write(`\nmessages dropped (newest first${drops.length === 50 ? ', the last 50' : ''})\n`);
      out.write(table(['time', 'queue id', 'sender', 'recipient', 'user'], drops.map((d) => [isoTime(d.at), d.messageId, d.sender === '' ? '<>' : d.sender, d.recipient, d.username]), ctx.io.columns));
    });

  cmd
    .command('add <address...>')
    .description('suppress addresses (or @domain for a whole domain)')
    .option('--reason <text>', 'why (shown in list, drop events and reject replies)', 'added by an admin')
    .option('--category <category>', `a category (${SUPPRESSION_CATEGORIES.join(', ')})`, 'manual')
    .option('--expires <duration>', 'stop applying after this long (30d, 12h)')
    .option('--user <name>', 'apply only to mail from this SMTP user')
    .action(async (inputs: string[], opts: { reason: string; category: string; expires?: string; user?: string }) => {
      const cat = category(opts.category);
      const expiresAt = opts.expires === undefined ? null : ctx.clock.now() + parseDuration(opts.expires, '--expires');
      const keys = inputs.map(keyOrFail); // all checked before anything is added
      const l = await list();
      const source = cat === 'complaint' ? 'complaint' : 'manual';
      // One entry per call (each its own transaction): every key was checked above, so a failure
      // here is the store's, reported with what was already added.
      for (const k of keys) {
        const { row: entry, created } = await l.upsert({
          address: k.address,
          domain: k.domain,
          category: cat,
          reason: opts.reason,
          source,
          scope: opts.user ?? null,
          createdAt: ctx.clock.now(),
          expiresAt,
        });
        ctx.io.stdout.write(`${created ? 'suppressed' : 'updated'} ${entry.address}${entry.scope ? ` for user ${entry.scope}` : ''} (${entry.category}${entry.expiresAt === null ? '' : `, until ${isoTime(entry.expiresAt)}`})\n`);
      }
    });

  cmd
    .command('remove <address...>')
    .description('remove entries, so mail to them is sent again')
    .option('--user <name>', "remove this SMTP user's entry instead of the global one")
    .action(async (inputs: string[], opts: { user?: string }) => {
      const keys = inputs.map(keyOrFail);
      const l = await list();
      const missing: string[] = [];
      for (const k of keys) {
        if (await l.remove(k.address, opts.user ?? null)) ctx.io.stdout.write(`removed ${k.address}${opts.user ? ` for user ${opts.user}` : ''}\n`);
        else missing.push(k.address);
      }
      if (missing.length) {
        throw new FerryError('FERRY_ERR_NOT_FOUND', `not suppressed${opts.user ? ` for user ${opts.user}` : ''}: ${missing.join(', ')}`);
      }
    });

  cmd
    .command('clear')
    .description('remove many entries at once')
    .option('--domain <domain>', 'entries of this domain')
    .option('--category <category>', 'entries of this category')
    .option('--before <date>', 'entries added before this date (or this long ago: 90d)')
    .option('--all', 'every entry')
    .option('--yes', 'do not ask for confirmation (required when not on a terminal)')
    .action(async (opts: { domain?: string; category?: string; before?: string; all?: boolean; yes?: boolean }) => {
      const filter: SuppressionFilter = {
        domain: opts.domain === undefined ? undefined : domainOf(opts.domain, '--domain'),
        category: opts.category === undefined ? undefined : category(opts.category),
        before: opts.before === undefined ? undefined : parseSince(opts.before, '--before', ctx.clock.now()),
      };
      const narrowed = Object.values(filter).some((v) => v !== undefined);
      if (!narrowed && !opts.all) throw new FerryError('FERRY_ERR_USAGE', 'say what to clear: --domain D, --category C, --before DATE, or --all');
      if (narrowed && opts.all) throw new FerryError('FERRY_ERR_USAGE', '--all cannot be combined with --domain, --category or --before');
      const repo = await list();
      const n = await repo.count(filter);
      if (!opts.yes) {
        if (!ctx.io.isTTY) throw new FerryError('FERRY_ERR_USAGE', `this would remove ${n} entries: add --yes to confirm (not on a terminal)`);
        ctx.io.stdout.write(`remove ${n} suppression entr${n === 1 ? 'y' : 'ies'}? [y/N] `);
        const answer = await readLine(ctx);
        if (!/^y(es)?$/i.test(answer.trim())) {
          ctx.io.stdout.write('nothing removed\n');
          return;
        }
      }
      const removed = await repo.clear(filter);
      ctx.io.stdout.write(`removed ${removed} suppression entr${removed === 1 ? 'y' : 'ies'}\n`);
    });

  cmd
    .command('import <file>')
    .description('import a CSV file with a header line (address[,reason,category,expires,user]) or a plain list, one address per line; "-" reads standard input. Exit 1 when rows were skipped (the others are imported)')
    .action(async (file: string) => {
      const fromStdin = file === '-';
      const name = fromStdin ? '<stdin>' : file;
      let size = 0;
      if (!fromStdin) {
        try {
          size = statSync(file).size;
        } catch (err) {
          throw new FerryError('FERRY_ERR_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
        }
      }
      // In batches through the store (each committed: a running relay is never held up), on
      // PostgreSQL too (every node's lookup cache hears of each batch).
      const { audited } = await ctx.store();
      const bar = ctx.io.isTTY && !fromStdin
        ? new cliProgress.SingleBar({ stream: ctx.io.stderr as NodeJS.WriteStream, format: 'importing [{bar}] {percentage}% | {value}/{total} bytes', hideCursor: true }, cliProgress.Presets.shades_classic)
        : null;
      bar?.start(size, 0);
      let last = 0;
      let result: { imported: number; skipped: number };
      try {
        result = await importSuppressions({
          apply: (rows) => audited.importSuppressions(rows, null),
          input: fromStdin ? (ctx.io.stdin as Readable) : createReadStream(file, { highWaterMark: 1 << 20 }),
          clock: ctx.clock,
          onBadRow: (line, problem) => ctx.io.stderr.write(`${name}:${line}: skipped: ${problem}\n`),
          onProgress: bar
            ? (bytes) => {
                if (bytes - last >= 256 * 1024 || bytes === size) {
                  last = bytes;
                  bar.update(bytes);
                }
              }
            : undefined,
        });
        bar?.update(size);
        bar?.stop();
      } catch (err) {
        bar?.stop();
        if (err instanceof FerryError) throw new FerryError(err.code, `${name}: ${err.message}`, { cause: err });
        throw err;
      }
      ctx.io.stdout.write(`imported ${result.imported}, skipped ${result.skipped}\n`);
      // The good rows are in; a script still has to notice the ones that were not.
      if (result.skipped > 0) {
        throw new FerryError('FERRY_ERR_IMPORT_SKIPPED', `${name}: ${result.skipped} row${result.skipped === 1 ? '' : 's'} skipped (listed above); the other ${result.imported} were imported`);
      }
    });

  cmd
    .command('export')
    .description('write every entry to standard output (the CSV re-imports)')
    .option('--csv', 'CSV (the default)')
    .option('--json', 'a JSON array')
    .action(async (opts: { csv?: boolean; json?: boolean }) => {
      if (opts.json && opts.csv) throw new FerryError('FERRY_ERR_USAGE', 'choose one of --json and --csv');
      await exportSuppressions(await list(), ctx.io.stdout, opts.json ? 'json' : 'csv');
    });
}

/** The entry that stops mail to this key for everyone (its own, or its domain's), ignoring expired ones. */
async function effectiveEntry(l: CliStore['suppressions'], key: SuppressionKey, now: number): Promise<SuppressionRow | null> {
  if (key.isDomain) {
    const row = await l.get(key.address, null);
    return row && (row.expiresAt === null || row.expiresAt > now) ? row : null;
  }
  return (await l.lookup(key.address, key.domain, null, now)) ?? null;
}

function keyOrFail(input: string): SuppressionKey {
  const key = suppressionKey(input);
  // Exit 1 (the command failed on its input), naming the address; nothing has been changed yet.
  if (!key) throw new FerryError('FERRY_ERR_NOT_FOUND', `not an email address or @domain: ${JSON.stringify(input)} (nothing changed)`);
  return key;
}

function domainOf(value: string, option: string): string {
  const key = suppressionKey(`@${value.replace(/^\*?@/, '')}`);
  if (!key) throw new FerryError('FERRY_ERR_USAGE', `${option} ${JSON.stringify(value)}: not a domain name`);
  return key.domain;
}

function category(value: string): string {
  if (!isSuppressionCategory(value)) throw new FerryError('FERRY_ERR_USAGE', `--category ${JSON.stringify(value)}: expected one of ${SUPPRESSION_CATEGORIES.join(', ')}`);
  return value;
}

function source(value: string): string {
  if (!(SUPPRESSION_SOURCES as readonly string[]).includes(value)) throw new FerryError('FERRY_ERR_USAGE', `--source ${JSON.stringify(value)}: expected one of ${SUPPRESSION_SOURCES.join(', ')}`);
  return value;
}

function truncate(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, width - 1)}…`;
}

function describe(out: NodeJS.WritableStream, e: SuppressionRow, now: number): void {
  out.write(`${e.address}${e.scope ? ` (only for user ${e.scope})` : ''}\n`);
  out.write(`  category  ${e.category}\n`);
  out.write(`  reason    ${e.reason}\n`);
  out.write(`  source    ${e.source}\n`);
  out.write(`  since     ${isoTime(e.createdAt)}\n`);
  out.write(`  expires   ${e.expiresAt === null ? 'never' : `${isoTime(e.expiresAt)}${e.expiresAt <= now ? ' (expired: no longer applies)' : ''}`}\n`);
  out.write(`  hits      ${e.hits}${e.lastHitAt === null ? '' : ` (last ${isoTime(e.lastHitAt)})`}\n`);
}

async function readLine(ctx: CliContext): Promise<string> {
  const rl = createInterface({ input: ctx.io.stdin, terminal: false });
  try {
    for await (const line of rl) return line;
    return '';
  } finally {
    rl.close();
  }
}
