import t from 'tap';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { CliContext } from '../../src/admin/context.js';
import { openDatabase } from '../../src/store/db.js';
import { ManualClock } from '../../src/core/clock.js';
import { registerQueueCommands } from '../../src/admin/queue.js';
import { createQueueStore, type QueueStore } from '../../src/store/queue-store.js';
import { makeCli, makeProgram } from '../sign/fixtures/helpers.js';
import { isStatus, send, setupDelivery, waitFor } from '../e2e/fixtures/delivery.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerQueueCommands(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

let seq = 0;
function enqueue(q: QueueStore, at: number, to: string[]): string {
  const id = `MSG${++seq}`;
  const headers = Buffer.from('Subject: x\r\n\r\n');
  q.accept([
    {
      message: {
        id, createdAt: at, sender: 'sender@ferry.test', username: null, clientIp: '127.0.0.1', helo: 'client', tls: null,
        size: headers.length + 4, headers, body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: null,
        messageIdHeader: null, subject: 'x', eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: to.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
    },
  ]);
  return id;
}

/** Puts the queue in a known state: a.test has 2 queued + 1 deferred + 1 in flight; b.test 1 deferred; c.test delivered. */
function seed(q: QueueStore, clock: ManualClock) {
  const m1 = enqueue(q, T0 - 3_600_000, ['x1@a.test', 'x2@a.test']);
  const m2 = enqueue(q, T0 - 600_000, ['y@a.test', 'z@b.test']);
  const m3 = enqueue(q, T0 - 60_000, ['w@a.test']);
  const m4 = enqueue(q, T0 - 60_000, ['done@c.test']);
  const [y, z] = q.recipients.forMessage(m2);
  q.recipients.changeStatus(y!.id, { status: 'deferred', at: T0 - 300_000, nextAttemptAt: T0 + 1_800_000, attempted: true, reply: '451 later' });
  q.recipients.changeStatus(z!.id, { status: 'deferred', at: T0 - 300_000, nextAttemptAt: T0 + 3_600_000, attempted: true, reply: '451 later' });
  const [done] = q.recipients.forMessage(m4);
  q.recipients.changeStatus(done!.id, { status: 'delivered', at: T0, nextAttemptAt: null, attempted: true, reply: '250 ok' });
  // w@a.test claimed by a worker: in flight until T0 + 15 min
  const w = q.recipients.forMessage(m3)[0]!;
  const claimed = q.recipients.claim(T0, T0 + 900_000, 'node-1', 100).map((r) => r.id);
  // the claim took every due one; give back all but w
  for (const id of claimed) if (id !== w.id) q.recipients.release(id, T0 - 3_600_000);
  return { m1, m2, m3, m4 };
}

t.test('list: counts per destination, oldest message, next attempt; filters; json', async (t) => {
  const clock = new ManualClock(T0);
  const cli = makeCli({}, clock);
  t.teardown(() => cli.close());
  const q = createQueueStore(cli.ctx.db());
  t.match(await run(cli, 'queue', 'list'), 'the queue is empty');
  seed(q, clock);

  const rows = JSON.parse(await run(cli, 'queue', 'list', '--json'));
  t.same(rows, [
    { domain: 'a.test', queued: 2, deferred: 1, inFlight: 1, oldestMessageAt: '2026-01-15T11:00:00Z', nextAttemptAt: '2026-01-15T11:00:00Z', rateLimited: 0, rateLimitedUntil: null },
    { domain: 'b.test', queued: 0, deferred: 1, inFlight: 0, oldestMessageAt: '2026-01-15T11:50:00Z', nextAttemptAt: '2026-01-15T13:00:00Z', rateLimited: 0, rateLimitedUntil: null },
  ]);

  const text = await run(cli, 'queue', 'list');
  t.match(text, /a\.test\s*│\s*2\s*│\s*1\s*│\s*1\s*│\s*2026-01-15T11:00:00Z \(1h 0m ago\)\s*│\s*now/);
  t.match(text, /b\.test\s*│\s*0\s*│\s*1\s*│\s*0\s*│.*│\s*2026-01-15T13:00:00Z \(in 1h 0m\)/);
  t.match(text, '2 destinations: 2 queued, 2 deferred, 1 in flight');
  t.notMatch(text, 'c.test', 'delivered recipients are not waiting');

  t.same(JSON.parse(await run(cli, 'queue', 'list', '--domain', 'B.TEST', '--json')).map((r: { domain: string }) => r.domain), ['b.test']);
  const deferred = JSON.parse(await run(cli, 'queue', 'list', '--status', 'deferred', '--json'));
  t.same(deferred.map((r: { domain: string; deferred: number; queued: number }) => [r.domain, r.queued, r.deferred]), [['a.test', 0, 1], ['b.test', 0, 1]]);
  const inflight = JSON.parse(await run(cli, 'queue', 'list', '--status', 'in-flight', '--json'));
  t.same(inflight.map((r: { domain: string; inFlight: number }) => [r.domain, r.inFlight]), [['a.test', 1]]);
  await t.rejects(run(cli, 'queue', 'list', '--status', 'delivered'), { code: 'FERRY_ERR_USAGE' });
  t.match(await run(cli, 'queue', 'list', '--domain', 'nowhere.test'), 'nothing waiting matches');
});

t.test('retry: one message, a domain, all — due now, in-flight ones untouched', async (t) => {
  const clock = new ManualClock(T0);
  const cli = makeCli({}, clock);
  t.teardown(() => cli.close());
  const q = createQueueStore(cli.ctx.db());
  const { m2, m3 } = seed(q, clock);

  t.match(await run(cli, 'queue', 'retry', m2), '2 recipients due now');
  t.same(q.recipients.forMessage(m2).map((r) => r.nextAttemptAt), [T0, T0]);
  t.same(q.recipients.forMessage(m2).map((r) => r.status), ['deferred', 'deferred'], 'status unchanged: only the time moves');

  clock.advance(1000);
  t.match(await run(cli, 'queue', 'retry', '--domain', 'a.test'), '3 recipients due now', 'x1, x2, y — not w (in flight)');
  t.equal(q.recipients.forMessage(m3)[0]!.nextAttemptAt, T0 + 900_000, 'the in-flight recipient keeps its lease');
  t.match(await run(cli, 'queue', 'retry', m3), '0 recipients due now (nothing pending that is not already in flight)');
  t.match(await run(cli, 'queue', 'retry', '--all'), '4 recipients due now');

  await t.rejects(run(cli, 'queue', 'retry'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'queue', 'retry', m2, '--all'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'queue', 'retry', 'NOSUCH'), { code: 'FERRY_ERR_NOT_FOUND' });
});

t.test('purge: expired with a reason and an event each, reported to the sender; --domain needs --yes; final ones untouched', async (t) => {
  const clock = new ManualClock(T0);
  const cli = makeCli({}, clock);
  t.teardown(() => cli.close());
  const q = createQueueStore(cli.ctx.db());
  const { m1, m2, m3, m4 } = seed(q, clock);

  const first = await run(cli, 'queue', 'purge', m1);
  t.match(first, '2 recipients purged (expired: purged by admin)');
  // Changed with outcome/fate: a purge is reported like an expiry (one DSN per message to its sender).
  t.match(first, '1 delivery status notification queued to the senders');
  const dsns = cli.ctx.db().prepare("SELECT id, body FROM messages WHERE kind = 'dsn'").all() as { id: string; body: Buffer }[];
  t.equal(dsns.length, 1);
  t.same(q.recipients.forMessage(dsns[0]!.id).map((r) => r.address), ['sender@ferry.test'], 'to the envelope sender');
  t.match(dsns[0]!.body.toString(), /x1@a\.test[\s\S]*x2@a\.test/, 'naming both purged recipients');
  for (const r of q.recipients.forMessage(m1)) {
    t.equal(r.status, 'expired');
    t.equal(r.lastReply, 'purged by admin');
    t.equal(r.nextAttemptAt, null);
    t.equal(r.attempts, 0, 'a purge is not an attempt');
  }
  const ev = q.events.forMessage(m1).filter((e) => e.type === 'expired');
  t.equal(ev.length, 2, 'one event per recipient');
  t.same(ev[0]!.detail, { reason: 'purged by admin' });
  t.equal(ev[0]!.category, 'other', 'an event with a category (never attempted: other)');
  t.equal(ev[0]!.at, T0);

  await t.rejects(run(cli, 'queue', 'purge', '--domain', 'a.test'), { code: 'FERRY_ERR_USAGE', message: /--yes/ });
  t.equal(q.recipients.forMessage(m3)[0]!.status, 'queued', 'nothing purged without --yes');
  const out = await run(cli, 'queue', 'purge', '--domain', 'a.test', '--yes');
  t.match(out, '2 recipients purged', 'y and w');
  t.match(out, '1 of them were being delivered');
  t.equal(q.recipients.forMessage(m2).find((r) => r.address === 'z@b.test')!.status, 'deferred', 'other domains untouched');
  t.equal(q.recipients.forMessage(m4)[0]!.status, 'delivered', 'final statuses untouched');
  t.match(await run(cli, 'queue', 'purge', m1), '0 recipients purged');
  await t.rejects(run(cli, 'queue', 'purge', 'NOSUCH'), { code: 'FERRY_ERR_NOT_FOUND' });
  t.same(JSON.parse(await run(cli, 'queue', 'list', '--json')).map((r: { domain: string; queued: number }) => [r.domain, r.queued]), [['ferry.test', 3], ['b.test', 0]], 'the three reports wait for delivery');
});

t.test('a running relay notices a retry made by the CLI at its next idle wake (≤ 5 s)', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const s = await setupDelivery(t, { clock, mx: { tls: false, script: { data: (n) => (n === 1 ? { code: 451, message: '4.3.0 try later' } : null) } } });
  const id = await send(s.relay, { to: ['bob@example.test'] });
  const [r] = await waitFor(s.ferry, id, isStatus('deferred'));
  t.ok(r!.nextAttemptAt! - clock.now() >= 4 * 60_000, 'next attempt minutes away');

  // the CLI, a separate database connection, as `ferry queue retry` would be
  const db = openDatabase({ file: join(s.relay.dataDir, 'ferry.db') });
  t.teardown(() => db.close());
  let out = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => (out += c.toString()));
  const ctx: CliContext = { io: { stdout, stderr: new PassThrough(), stdin: new PassThrough(), isTTY: false }, clock, config: () => s.ferry.config, db: () => db, store: async () => createInProcessSqliteStore(db) };
  const program = makeProgram();
  registerQueueCommands(program, ctx);
  await program.parseAsync(['queue', 'retry', id], { from: 'user' });
  t.match(out, '1 recipient due now');

  clock.advance(4_000);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(s.mx!.messages.length, 0, 'not yet: the scheduler sleeps until its idle wake');
  clock.advance(1_000);
  const [after] = await waitFor(s.ferry, id, isStatus('delivered'));
  t.equal(after!.attempts, 2);
  t.equal(s.mx!.messages.length, 1);
});
