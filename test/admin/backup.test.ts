import t from 'tap';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from '../../src/store/sqlite-driver.js';
import { registerBackupCommand } from '../../src/admin/backup.js';
import { ManualClock } from '../../src/core/clock.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';
import { NOW, cliFor, seed } from '../ops/fixtures/seed.js';
import { tempDir } from '../helpers/relay.js';
import { send, setupDelivery } from '../e2e/fixtures/delivery.js';

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerBackupCommand(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

function queueOf(file: string): { id: string; status: string }[] {
  const copy = new Database(file, { readonly: true });
  try {
    return copy.prepare('SELECT message_id AS id, status FROM recipients ORDER BY id').all() as { id: string; status: string }[];
  } finally {
    copy.close();
  }
}

t.test('backup writes a database that opens and holds the queue; refuses to overwrite without --force', async (t) => {
  const cli = makeCli({}, new ManualClock(NOW));
  t.teardown(() => cli.close());
  seed(cli.ctx.db());
  const out = tempDir(t);
  const file = join(out, 'ferry-backup.db');

  t.match(await run(cli, 'backup', file), /^backed up .*ferry\.db to .*ferry-backup\.db \(\d+ bytes; queue: 1 queued, 1 deferred\)\n$/);
  const rows = queueOf(file);
  t.equal(rows.length, 6);
  t.same(rows.filter((r) => r.status === 'queued' || r.status === 'deferred').map((r) => r.id), ['M1', 'M2']);
  t.notOk(existsSync(`${file}.tmp`), 'no temp file left');

  await t.rejects(run(cli, 'backup', file), { code: 'FERRY_ERR_EXISTS', message: /exists: .*--force/ });
  writeFileSync(file, 'not a database');
  await t.rejects(run(cli, 'backup', file), { code: 'FERRY_ERR_EXISTS' });
  t.equal(readFileSync(file, 'utf8'), 'not a database', 'left untouched');
  const json = JSON.parse(await run(cli, 'backup', file, '--force', '--json'));
  t.same(json.queue, { queued: 1, deferred: 1 });
  t.equal(queueOf(file).length, 6, 'replaced with a good copy');

  await t.rejects(run(cli, 'backup', join(cli.dir, 'ferry.db'), '--force'), { code: 'FERRY_ERR_USAGE', message: /live database/ });
});

t.test('backup while the relay runs holds the mail it has accepted, and names spool-file bodies', async (t) => {
  // No MX answers: accepted mail stays queued/deferred. Bodies over 10 bytes go to spool files.
  const { ferry, relay } = await setupDelivery(t, { mx: null, config: { spool: { inlineMaxBytes: 10 } } });
  const id = await send(relay, { from: '', to: ['alice@example.test'] });
  const cli = cliFor(relay.dataDir);
  t.teardown(() => cli.close());
  const file = join(tempDir(t), 'live.db');
  const program = makeProgram();
  registerBackupCommand(program, cli.ctx);
  await program.parseAsync(['backup', file], { from: 'user' });
  const out = cli.out();
  t.match(out, /note: 1 message bodies are spool files in .*spool/);
  t.same(queueOf(file).map((r) => r.id), [id]);
  t.equal(ferry.queue.messages.get(id)?.id, id, 'the relay keeps running');
});
