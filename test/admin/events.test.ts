import t from 'tap';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { runCli } from '../../src/admin/cli.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { tempDir } from '../helpers/relay.js';

function cli(dataDir: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const run = (...argv: string[]) =>
    runCli(argv, {
      io: { stdout, stderr, stdin: new PassThrough(), isTTY: false },
      env: { FERRY_DATA_DIR: dataDir },
      cwd: dataDir,
      onSignal: () => undefined,
    });
  return { run, out: () => out, err: () => err, reset: () => ((out = ''), (err = '')) };
}

function seed(dataDir: string) {
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const queue = createQueueStore(db);
  const add = (id: string, at: number, address: string) =>
    queue.accept([
      {
        message: {
          id, createdAt: at, sender: 'app@sender.test', username: null, clientIp: null, helo: null, tls: null, size: 1,
          headers: Buffer.from('\r\n'), body: null, spoolFile: null, headerFrom: null, messageIdHeader: `<${id}@sender.test>`,
          subject: null, eightBit: false, smtputf8: false, kind: 'submission',
        },
        recipients: [{ address, domain: address.split('@')[1]!, status: 'queued', reason: null, category: null }],
      },
    ]);
  return { db, queue, add };
}

t.test('events list: filters, table and JSON', async (t) => {
  const dir = tempDir(t);
  const { db, queue, add } = seed(dir);
  const day = Date.UTC(2026, 10, 20);
  add('OLD', day, 'old@x.test');
  add('NEW', day + 86_400_000 * 5, 'new@x.test');
  const r = queue.recipients.forMessage('NEW')[0]!;
  queue.recipients.changeStatus(r.id, { status: 'bounced', at: day + 86_400_000 * 5 + 1000, nextAttemptAt: null, attempted: true });
  queue.events.append({
    at: day + 86_400_000 * 5 + 1000, messageId: 'NEW', recipientId: r.id, recipient: r.address, type: 'bounced', status: 'bounced',
    category: 'user_unknown', detail: { reply: '550 5.1.1 no such user' },
  });
  db.close();

  const c = cli(dir);
  t.equal(await c.run('events', 'list', '--json'), 0);
  const all = JSON.parse(c.out()) as { id: number; event: string; queue_id: string; reply: string | null; message_id: string }[];
  t.same(all.map((e) => [e.id, e.event, e.queue_id]), [[3, 'bounced', 'NEW'], [2, 'queued', 'NEW'], [1, 'queued', 'OLD']], 'newest first');
  t.match(all[0], { recipient: 'new@x.test', status: 'bounced', category: 'user_unknown', reply: '550 5.1.1 no such user', message_id: '<NEW@sender.test>' });

  c.reset();
  t.equal(await c.run('events', 'list', '--type', 'bounced'), 0);
  t.match(c.out(), /bounced/);
  t.match(c.out(), /550 5\.1\.1 no such user/);
  t.notMatch(c.out(), /OLD/);

  c.reset();
  t.equal(await c.run('events', 'list', '--since', '2026-11-24', '--json'), 0);
  t.same((JSON.parse(c.out()) as { queue_id: string }[]).map((e) => e.queue_id), ['NEW', 'NEW']);

  c.reset();
  t.equal(await c.run('events', 'list', '--since', 'yesterday-ish'), 2, 'a bad --since is a usage error');
  t.match(c.err(), /--since/);
});

t.test('events tail follows new events until --max-events', async (t) => {
  const dir = tempDir(t);
  const { db, add } = seed(dir);
  t.teardown(() => db.close());
  add('BEFORE', Date.UTC(2026, 10, 27), 'before@x.test');
  const c = cli(dir);
  const done = c.run('events', 'tail', '--json', '--interval-ms', '20', '--max-events', '2');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(c.out(), '', 'only events recorded after tail started');
  add('A', Date.UTC(2026, 10, 27, 1), 'a@x.test');
  await new Promise((r) => setTimeout(r, 100));
  add('B', Date.UTC(2026, 10, 27, 2), 'b@x.test');
  t.equal(await done, 0);
  const lines = c.out().trim().split('\n').map((l) => JSON.parse(l) as { queue_id: string; event: string });
  t.same(lines.map((l) => [l.queue_id, l.event]), [['A', 'queued'], ['B', 'queued']]);
});
