import t from 'tap';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { Command } from 'commander';
import nodemailer from 'nodemailer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { CliContext } from '../../src/admin/context.js';
import { registerSuppressionsCommands } from '../../src/admin/suppressions.js';
import { systemClock } from '../../src/core/clock.js';
import { buildConfig } from '../../src/config/load.js';
import { createFerry, type Ferry } from '../../src/main.js';
import { immediateTransactions, openDatabase, type Db } from '../../src/store/db.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { startMx, type TestMx } from '../helpers/mx-server.js';

// Client → Ferry (→ test MX): suppressed recipients are dropped at RCPT time (or refused in
// reject mode) while the others in the same message are delivered; the CLI, through its own
// database connection, changes what the running relay does at the next RCPT.

interface Relay {
  ferry: Ferry;
  port: number;
  mx: TestMx;
  dataDir: string;
}

async function startRelay(t: typeof import('tap').default, mode: 'drop' | 'reject' = 'drop'): Promise<Relay> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-e2e-suppress-'));
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  const config = buildConfig(
    {
      dataDir,
      hostname: 'ferry.test',
      smtp: { listen: '127.0.0.1:0' },
      http: { listen: null },
      log: { level: 'silent' },
      dmarc: { mode: 'off' },
      routes: { '*': `127.0.0.2:${mx.port}` },
      suppression: { mode },
    },
    dataDir,
  );
  const ferry = createFerry(config);
  const { smtp } = await ferry.start();
  t.teardown(async () => {
    await ferry.stop();
    await mx.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ferry, port: Number(smtp.slice(smtp.lastIndexOf(':') + 1)), mx, dataDir };
}

async function send(port: number, to: string[]) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    return await transport.sendMail({
      envelope: { from: 'app@sender.test', to },
      raw: 'From: app@sender.test\r\nTo: undisclosed-recipients:;\r\nSubject: statement\r\n\r\nYour statement is ready.\r\n',
    });
  } finally {
    transport.close();
  }
}

const queueId = (response: string) => /queued as (\S+)/.exec(response)![1]!;

/** Runs `ferry suppressions ...` in-process over its own connection to the relay's database, as a separate process would. */
async function cli(dataDir: string, ...args: string[]): Promise<string> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  let db: Db | null = null;
  const config = buildConfig({ dataDir }, dataDir);
  const ctx: CliContext = {
    io: { stdout, stderr: new PassThrough(), stdin: new PassThrough(), isTTY: false },
    clock: systemClock,
    config: () => config,
    db: () => (db ??= immediateTransactions(openDatabase({ file: join(dataDir, 'ferry.db') }))),
    store: async () => createInProcessSqliteStore(ctx.db()),
  };
  const program = new Command().exitOverride();
  registerSuppressionsCommands(program, ctx);
  try {
    await program.parseAsync(['suppressions', ...args], { from: 'user' });
  } finally {
    (db as Db | null)?.close();
  }
  return out;
}

t.test('drop mode: the suppressed recipient is dropped with its reason and an event; the other is delivered', async (t) => {
  const { ferry, port, mx } = await startRelay(t);
  testSuppressions(ferry.db).suppress('Gone@Dest.test', 'user_unknown', '550 5.1.1 <gone@dest.test>: no such user', 'bounce');

  const info = await send(port, ['gone@dest.test', 'here@dest.test']);
  t.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  t.same(info.accepted.sort(), ['gone@dest.test', 'here@dest.test'], 'both RCPTs got 250');
  const id = queueId(info.response);
  const byAddress = Object.fromEntries(ferry.queue.recipients.forMessage(id).map((r) => [r.address, r]));
  t.equal(byAddress['gone@dest.test']!.status, 'dropped');
  t.equal(byAddress['gone@dest.test']!.category, 'user_unknown');
  const events = ferry.queue.events.forMessage(id);
  const drop = events.find((e) => e.recipient === 'gone@dest.test')!;
  t.equal(drop.type, 'dropped');
  t.equal(drop.category, 'user_unknown');
  t.same(drop.detail, { reason: 'on the suppression list: 550 5.1.1 <gone@dest.test>: no such user' });
  t.equal(events.find((e) => e.recipient === 'here@dest.test')!.type, 'queued', 'the other recipient was queued');

  await mx.waitForMessages(1, 10_000);
  t.same(mx.messages[0]!.envelope.to, ['here@dest.test'], 'only the other recipient reaches the MX');
  t.equal(ferry.queue.recipients.forMessage(id).find((r) => r.address === 'gone@dest.test')!.status, 'dropped', 'never sent');

  // hits are counted (written on the next turn of the event loop)
  await new Promise((r) => setImmediate(r));
  t.equal(testSuppressions(ferry.db).repo.get('gone@dest.test', null)!.hits, 1);
});

t.test('drop mode: a message whose recipients are all suppressed still gets 250; every drop is an event', async (t) => {
  const { ferry, port, mx } = await startRelay(t);
  const list = testSuppressions(ferry.db);
  list.suppress('a@dest.test', 'user_unknown', 'no such user', 'bounce');
  list.suppress('@gone.test', 'domain_invalid', 'the domain has a null MX', 'bounce');
  const info = await send(port, ['a@dest.test', 'x@gone.test', 'Y@GONE.test']);
  t.match(info.response, /^250 /);
  const id = queueId(info.response);
  t.same(ferry.queue.recipients.forMessage(id).map((r) => [r.address, r.status]).sort(), [
    ['Y@gone.test', 'dropped'],
    ['a@dest.test', 'dropped'],
    ['x@gone.test', 'dropped'],
  ], 'a whole-domain entry drops every address of the domain');
  const events = ferry.queue.events.forMessage(id);
  t.same(events.map((e) => e.type), ['dropped', 'dropped', 'dropped']);
  t.same(events.filter((e) => e.recipient!.toLowerCase().endsWith('@gone.test')).map((e) => e.detail), [
    { reason: 'on the suppression list: the domain has a null MX' },
    { reason: 'on the suppression list: the domain has a null MX' },
  ]);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(mx.messages.length, 0, 'nothing is sent');
});

t.test('reject mode: the RCPT gets 550 5.7.1 with the category and the since date', async (t) => {
  const { ferry, port, mx } = await startRelay(t, 'reject');
  const { entry } = testSuppressions(ferry.db).suppress('gone@dest.test', 'mailbox_disabled', 'account closed', 'bounce');
  const since = new Date(entry.createdAt).toISOString().slice(0, 10);

  const info = await send(port, ['Gone@dest.test', 'here@dest.test']);
  t.same(info.accepted, ['here@dest.test']);
  t.same(info.rejected, ['Gone@dest.test']);
  const rejected = (info as unknown as { rejectedErrors: { response: string; responseCode: number }[] }).rejectedErrors[0]!;
  t.equal(rejected.responseCode, 550);
  t.equal(rejected.response, `550 5.7.1 <Gone@dest.test>: recipient is on the suppression list (mailbox_disabled, since ${since})`);
  t.same(ferry.queue.recipients.forMessage(queueId(info.response)).map((r) => r.address), ['here@dest.test'], 'the refused recipient is not recorded');

  const err = await send(port, ['gone@dest.test']).then(
    () => null,
    (e: { responseCode?: number; response?: string }) => e,
  );
  t.ok(err, 'a message with only suppressed recipients is refused');
  t.equal(err!.responseCode, 550);
  t.equal(err!.response, `550 5.7.1 <gone@dest.test>: recipient is on the suppression list (mailbox_disabled, since ${since})`);
  await mx.waitForMessages(1, 10_000);
  t.same(mx.messages.map((m) => m.envelope.to), [['here@dest.test']]);
});

t.test('a change made with the CLI applies to the running relay at the next message', async (t) => {
  const { ferry, port, dataDir } = await startRelay(t);
  const status = async (to: string) => {
    const info = await send(port, [to]);
    return ferry.queue.recipients.forMessage(queueId(info.response))[0]!.status;
  };
  t.equal(await status('carol@dest.test'), 'queued');
  t.match(await cli(dataDir, 'add', 'carol@dest.test', '--reason', 'asked us to stop'), 'suppressed carol@dest.test');
  t.equal(await status('carol@dest.test'), 'dropped', 'added: dropped at once');
  t.match(await cli(dataDir, 'show', 'carol@dest.test'), /messages dropped[\s\S]*carol@dest\.test/, 'show lists the drop');
  t.equal(await cli(dataDir, 'remove', 'carol@dest.test'), 'removed carol@dest.test\n');
  t.equal(await status('carol@dest.test'), 'queued', 'removed: sent again at once');
  await cli(dataDir, 'add', '@dest.test');
  t.equal(await status('dave@dest.test'), 'dropped', 'a domain entry from the CLI');
});
