import t from 'tap';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { Command } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/admin/cli.js';
import type { CliContext } from '../../src/admin/context.js';
import { registerSuppressionsCommands } from '../../src/admin/suppressions.js';
import { ManualClock } from '../../src/core/clock.js';
import { buildConfig } from '../../src/config/load.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { acceptWithFates } from '../helpers/fate.js';

const NOW = Date.UTC(2026, 0, 15, 9, 30);

function makeCli(t: typeof import('tap').default, opts: { isTTY?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-supp-cli-'));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const config = buildConfig({ dataDir: dir }, dir);
  const clock = new ManualClock(NOW);
  let db: Db | null = null;
  const ctx: CliContext = {
    io: { stdout, stderr, stdin, isTTY: opts.isTTY ?? false },
    clock,
    config: () => config,
    db: () => (db ??= openDatabase({ file: join(dir, 'ferry.db') })),
    store: async () => createInProcessSqliteStore(ctx.db()),
  };
  t.teardown(() => {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    ctx,
    dir,
    clock,
    stdin,
    repo: () => createSuppressionsRepo(ctx.db()),
    /** Runs one command; returns what it wrote to stdout and stderr. */
    async run(...args: string[]): Promise<{ out: string; err: string }> {
      const o = out.length;
      const e = err.length;
      const program = new Command();
      program.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
      registerSuppressionsCommands(program, ctx);
      await program.parseAsync(args, { from: 'user' });
      return { out: out.slice(o), err: err.slice(e) };
    },
    out: () => out,
    err: () => err,
  };
}

t.test('add, list, show, remove', async (t) => {
  const cli = makeCli(t);
  let r = await cli.run('suppressions', 'add', 'Bob@Bücher.Example', '@spam.test', '--reason', 'asked to stop on the phone');
  t.match(r.out, 'suppressed bob@xn--bcher-kva.example (manual)');
  t.match(r.out, 'suppressed @spam.test (manual)');
  r = await cli.run('suppressions', 'add', 'temp@example.com', '--expires', '30d', '--category', 'mailbox_full');
  t.match(r.out, 'suppressed temp@example.com (mailbox_full, until 2026-02-14T09:30:00Z)');
  r = await cli.run('suppressions', 'add', 'carol@example.com', '--category', 'complaint', '--user', 'app1', '--reason', 'FBL report');
  t.match(r.out, 'suppressed carol@example.com for user app1 (complaint)');
  t.equal(cli.repo().get('carol@example.com', 'app1')?.source, 'complaint', 'a complaint category is a complaint source');
  r = await cli.run('suppressions', 'add', 'bob@bücher.example', '--reason', 'again');
  t.match(r.out, 'updated bob@xn--bcher-kva.example');

  await t.rejects(cli.run('suppressions', 'add', 'ok@example.com', 'not-an-address'), { code: 'FERRY_ERR_NOT_FOUND', message: /not-an-address/ });
  t.notOk(cli.repo().get('ok@example.com', null), 'nothing added when one address is bad');
  await t.rejects(cli.run('suppressions', 'add', 'x@example.com', '--category', 'weird'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(cli.run('suppressions', 'add', 'x@example.com', '--expires', 'forever'), { code: 'FERRY_ERR_USAGE' });

  r = await cli.run('suppressions', 'list');
  t.match(r.out, /address\s*│\s*category\s*│\s*reason\s*│\s*since\s*│\s*expires\s*│\s*hits\s*│\s*user/);
  t.match(r.out, /bob@xn--bcher-kva\.example\s*│\s*manual\s*│\s*again\s*│\s*2026-01-15\s*│\s*│\s*0\s*│\s*\(all\)/);
  t.match(r.out, /temp@example\.com\s*│\s*mailbox_full\s*│.*│\s*2026-02-14\s*│/);
  t.match(r.out, /carol@example\.com\s*│\s*complaint\s*│\s*FBL report\s*│.*│\s*app1/);

  r = await cli.run('suppressions', 'list', '--domain', 'EXAMPLE.com', '--json');
  const rows = JSON.parse(r.out) as { address: string; user: string | null }[];
  t.same(rows.map((x) => x.address).sort(), ['carol@example.com', 'temp@example.com']);
  r = await cli.run('suppressions', 'list', '--category', 'complaint', '--csv');
  t.equal(r.out, 'address,reason,category,expires,user\ncarol@example.com,FBL report,complaint,,app1\n');
  r = await cli.run('suppressions', 'list', '--search', 'phone');
  t.match(r.out, '@spam.test');
  t.notMatch(r.out, 'bob@', 'its reason was replaced by "again"');
  r = await cli.run('suppressions', 'list', '--source', 'manual', '--limit', '1');
  t.match(r.out, /showing 1 of 3/);
  r = await cli.run('suppressions', 'list', '--since', '1h', '--user', 'app1');
  t.match(r.out, 'carol@example.com');
  t.notMatch(r.out, 'temp@example.com');
  await t.rejects(cli.run('suppressions', 'list', '--source', 'robot'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(cli.run('suppressions', 'list', '--json', '--csv'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(cli.run('suppressions', 'list', '--domain', 'bad domain'), { code: 'FERRY_ERR_USAGE' });

  r = await cli.run('suppressions', 'show', 'BOB@bücher.example');
  t.match(r.out, 'bob@xn--bcher-kva.example\n  category  manual\n  reason    again\n  source    manual\n  since     2026-01-15T09:30:00Z\n  expires   never\n  hits      0');
  t.match(r.out, 'no messages dropped');
  r = await cli.run('suppressions', 'show', 'anyone@spam.test');
  t.match(r.out, 'anyone@spam.test is suppressed by the domain entry @spam.test');
  await t.rejects(cli.run('suppressions', 'show', 'free@example.com'), { code: 'FERRY_ERR_NOT_FOUND', message: 'free@example.com is not suppressed' });

  r = await cli.run('suppressions', 'remove', 'carol@example.com', '--user', 'app1');
  t.equal(r.out, 'removed carol@example.com for user app1\n');
  await t.rejects(cli.run('suppressions', 'remove', 'Bob@bücher.example', 'free@example.com', '@spam.test'), {
    code: 'FERRY_ERR_NOT_FOUND',
    message: 'not suppressed: free@example.com',
  });
  t.match(cli.out(), 'removed bob@xn--bcher-kva.example\nremoved @spam.test\n', 'the others were removed, and said so');
  t.equal(cli.repo().count(), 1);
});

t.test('show lists the messages an entry dropped', async (t) => {
  const cli = makeCli(t);
  await cli.run('suppressions', 'add', 'gone@example.com', '--category', 'user_unknown', '--reason', '550 5.1.1 no such user');
  // Intake as main.ts does it: a recipient born dropped gets its fate (the `dropped` event) in the same transaction.
  acceptWithFates(cli.ctx.db(), [
    {
      message: {
        id: 'QID123', createdAt: NOW + 60_000, sender: 'billing@app.test', username: null, clientIp: '127.0.0.1', helo: 'app', tls: null,
        size: 10, headers: Buffer.from('Subject: x\r\n\r\n'), body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null,
        messageIdHeader: null, subject: 'x', eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: [
        { address: 'Gone@example.com', domain: 'example.com', status: 'dropped', reason: 'on the suppression list: 550 5.1.1 no such user', category: 'user_unknown' },
        { address: 'here@example.com', domain: 'example.com', status: 'queued', reason: null, category: null },
      ],
    },
  ] as never);
  const r = await cli.run('suppressions', 'show', 'gone@example.com');
  t.match(r.out, /messages dropped \(newest first\)/);
  t.match(r.out, /2026-01-15T09:31:00Z\s*│\s*QID123\s*│\s*billing@app\.test\s*│\s*Gone@example\.com/);
  const j = JSON.parse((await cli.run('suppressions', 'show', 'gone@example.com', '--json')).out);
  t.same(j.drops.map((d: { messageId: string }) => d.messageId), ['QID123']);
  t.equal(j.entries[0].category, 'user_unknown');
});

t.test('clear: needs --yes off a terminal, asks on one, prints the count', async (t) => {
  const cli = makeCli(t);
  await cli.run('suppressions', 'add', 'a@one.test', 'b@one.test', '@one.test', 'c@two.test');
  await cli.run('suppressions', 'add', 'd@two.test', '--category', 'complaint');
  await t.rejects(cli.run('suppressions', 'clear'), { code: 'FERRY_ERR_USAGE', message: /--domain D/ });
  await t.rejects(cli.run('suppressions', 'clear', '--all', '--domain', 'one.test'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(cli.run('suppressions', 'clear', '--domain', 'one.test'), { code: 'FERRY_ERR_USAGE', message: /would remove 3 entries: add --yes/ });
  t.equal(cli.repo().count(), 5, 'nothing removed');
  let r = await cli.run('suppressions', 'clear', '--domain', 'one.test', '--yes');
  t.equal(r.out, 'removed 3 suppression entries\n');
  r = await cli.run('suppressions', 'clear', '--category', 'complaint', '--yes');
  t.equal(r.out, 'removed 1 suppression entry\n');
  cli.clock.advance(86_400_000);
  await cli.run('suppressions', 'add', 'new@three.test');
  r = await cli.run('suppressions', 'clear', '--before', '2026-01-16', '--yes');
  t.equal(r.out, 'removed 1 suppression entry\n');
  t.same([...cli.repo().iterate()].map((x) => x.address), ['new@three.test']);

  const tty = makeCli(t, { isTTY: true });
  await tty.run('suppressions', 'add', 'a@one.test', 'b@one.test');
  tty.stdin.write('n\n');
  r = await tty.run('suppressions', 'clear', '--all');
  t.equal(r.out, 'remove 2 suppression entries? [y/N] nothing removed\n');
  t.equal(tty.repo().count(), 2);
  tty.stdin.write('yes\n');
  r = await tty.run('suppressions', 'clear', '--all');
  t.equal(r.out, 'remove 2 suppression entries? [y/N] removed 2 suppression entries\n');
  t.equal(tty.repo().count(), 0);
});

t.test('import with bad rows (reported by line number), export, re-import', async (t) => {
  const cli = makeCli(t);
  const file = join(cli.dir, 'list.csv');
  writeFileSync(
    file,
    [
      'address,reason,category,expires',
      'one@example.com,hard bounce,user_unknown,',
      'broken-address,x,manual,',
      '"Two@Example.com","comma, inside",manual,7d',
      'three@example.com,x,not_a_category,',
      '@gone.test,no such domain,domain_invalid,2026-06-30',
      'four@example.com,x,manual,next week',
    ].join('\r\n') + '\r\n',
  );
  const [o, e] = [cli.out().length, cli.err().length];
  await t.rejects(cli.run('suppressions', 'import', file), {
    code: 'FERRY_ERR_IMPORT_SKIPPED',
    message: `${file}: 3 rows skipped (listed above); the other 3 were imported`,
  }, 'skipped rows fail the command (exit 1), after importing the good ones');
  let r = { out: cli.out().slice(o), err: cli.err().slice(e) };
  t.equal(r.out, 'imported 3, skipped 3\n');
  t.equal(
    r.err,
    `${file}:3: skipped: not an email address or @domain: "broken-address"\n` +
      `${file}:5: skipped: unknown category "not_a_category"\n` +
      `${file}:7: skipped: expires "next week": expected a date (2026-12-31) or a duration (30d)\n`,
  );
  const two = cli.repo().get('two@example.com', null)!;
  t.equal(two.reason, 'comma, inside');
  t.equal(two.source, 'import');
  t.equal(two.expiresAt, NOW + 7 * 86_400_000);

  r = await cli.run('suppressions', 'export');
  const csv = r.out;
  t.equal(csv.split('\n')[0], 'address,reason,category,expires,user');
  t.equal(csv.trim().split('\n').length, 4);
  r = await cli.run('suppressions', 'export', '--json');
  const exported = JSON.parse(r.out) as { address: string; expiresAt: string | null }[];
  t.same(exported.map((e) => e.address).sort(), ['@gone.test', 'one@example.com', 'two@example.com']);
  t.equal(exported.find((e) => e.address === '@gone.test')!.expiresAt, '2026-06-30T00:00:00.000Z');

  await cli.run('suppressions', 'clear', '--all', '--yes');
  writeFileSync(file, csv);
  r = await cli.run('suppressions', 'import', file);
  t.equal(r.out, 'imported 3, skipped 0\n');
  t.equal(r.err, '');
  const r2 = await cli.run('suppressions', 'export');
  t.equal(r2.out, csv, 'the export re-imports to the same list');

  writeFileSync(file, 'email,why\nx@example.com,y\n');
  await t.rejects(cli.run('suppressions', 'import', file), { code: 'FERRY_ERR_NOT_FOUND', message: /list\.csv: line 1: no valid header: unknown column "email"/ });
  await t.rejects(cli.run('suppressions', 'import', join(cli.dir, 'missing.csv')), { code: 'FERRY_ERR_NOT_FOUND', message: /cannot read/ });
  t.equal(cli.repo().count(), 3);
});

t.test('import of a larger file: streamed in batches of 1,000 rows, each a store operation (with the progress bar of a terminal)', async (t) => {
  const cli = makeCli(t, { isTTY: true });
  const calls: [rows: number, entriesBefore: number][] = [];
  const open = cli.ctx.store.bind(cli.ctx);
  cli.ctx.store = async () => {
    const s = await open();
    return {
      ...s,
      audited: {
        importSuppressions: (rows, audit) => {
          calls.push([rows.length, cli.repo().count()]);
          return s.audited.importSuppressions(rows, audit);
        },
      },
    };
  };
  const file = join(cli.dir, 'big.csv');
  writeFileSync(file, `address,reason\n${Array.from({ length: 2500 }, (_, i) => `u${i}@big.test,bounced ${i}\n`).join('')}`);
  const r = await cli.run('suppressions', 'import', file);
  t.equal(r.out, 'imported 2500, skipped 0\n');
  t.same(calls, [[1000, 0], [1000, 1000], [500, 2000]], 'three batches, each committed before the next');
  t.equal(cli.repo().count(), 2500);
});

t.test('exit codes through the real CLI entry', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-supp-exit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'ferry.json');
  writeFileSync(configFile, JSON.stringify({ dataDir: dir }));
  // Admin commands never create the database (ferry start and ferry init do).
  openDatabase({ file: join(dir, 'ferry.db') }).close();
  const run = async (...args: string[]) => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await runCli(['-c', configFile, 'suppressions', ...args], { io: { stdout, stderr, stdin: new PassThrough(), isTTY: false }, env: {}, cwd: dir, onSignal: () => undefined });
    return { code, out, err };
  };
  t.same(await run('add', 'a@example.com'), { code: 0, out: 'suppressed a@example.com (manual)\n', err: '' });
  let r = await run('add', 'b@example.com', 'nope');
  t.equal(r.code, 1);
  t.equal(r.err, 'ferry: not an email address or @domain: "nope" (nothing changed)\n');
  r = await run('remove', 'a@example.com', 'b@example.com');
  t.same(r, { code: 1, out: 'removed a@example.com\n', err: 'ferry: not suppressed: b@example.com\n' });
  r = await run('clear', '--all');
  t.equal(r.code, 2, '--yes is missing: a usage error');
  r = await run('list');
  t.equal(r.out, 'no suppressions match\n');
});
