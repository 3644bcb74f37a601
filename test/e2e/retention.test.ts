import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { Ferry } from '../../src/main.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';
import { isStatus, send, setupDelivery, tick, waitFor } from './fixtures/delivery.js';

/**
 * Retention through the real relay (and the real `ferry prune`): bodies go as soon as no
 * recipient can be delivered again (or after keepBodiesHours), records after retention.days,
 * the suppression list stays.
 */

const BIG = ['From: app@ferry.test', 'To: rcpt@example.test', 'Subject: big', '', ...Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(60)}`), ''].join('\r\n');

function spoolFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'spool'));
}

function bodyState(ferry: Ferry, id: string): { body: number | null; spoolFile: string | null; removedAt: number | null } {
  return ferry.db.prepare('SELECT length(body) AS body, spool_file AS spoolFile, body_removed_at AS removedAt FROM messages WHERE id = ?').get(id) as never;
}

async function until(what: string, fn: () => boolean, step?: () => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    step?.();
    await tick(10);
  }
}

t.test('bodies go once every recipient is final: the spool empties, inline bodies are cleared, records stay', async (t) => {
  const { ferry, relay, mx } = await setupDelivery(t, {
    mx: { tls: false, script: { rcpt: (a) => (a.startsWith('later') ? { code: 451, message: '4.2.0 try again later' } : null) } },
    config: { spool: { inlineMaxBytes: 1024 } },
  });
  const small = await send(relay, { from: '', to: ['a@example.test'] });
  const big = await send(relay, { from: '', to: ['b@example.test'], raw: BIG });
  // One recipient delivered, one deferred: the body must stay for the retry.
  const mixed = await send(relay, { from: '', to: ['c@example.test', 'later@example.test'], raw: BIG });
  t.ok(ferry.queue.messages.getSummary(small)!.size < 1024, 'the small body was stored inline');
  await waitFor(ferry, small, isStatus('delivered'));
  await waitFor(ferry, big, isStatus('delivered'));
  await waitFor(ferry, mixed, (r) => r.status === (r.address.startsWith('later') ? 'deferred' : 'delivered'));
  t.ok(mx!.messages.length >= 3);

  // The removal is recorded, then the file is unlinked: wait for both.
  await until('the finished bodies to go', () => bodyState(ferry, small).body === null && bodyState(ferry, big).removedAt !== null && spoolFiles(relay.dataDir).length <= 1);
  t.same(bodyState(ferry, small).body, null, 'inline body cleared');
  t.ok(bodyState(ferry, small).removedAt, 'and the time recorded');
  const mixedState = bodyState(ferry, mixed);
  t.ok(mixedState.spoolFile, 'a message with a recipient still deferred keeps its spool file');
  t.same(spoolFiles(relay.dataDir), [mixedState.spoolFile], 'the only spool file left is the one still needed');
  t.equal(ferry.queue.recipients.forMessage(small).length, 1, 'the record stays (retention.days)');
  t.ok(ferry.queue.events.forMessage(small).length >= 2, 'and its events');

  // The deferred recipient is ended by the admin: now nothing needs the body, and the periodic pass removes it.
  const purged = await runFerry(['queue', 'purge', mixed], { env: { FERRY_DATA_DIR: relay.dataDir } });
  t.equal(purged.code, 0, purged.stderr);
  await ferry.retention.run();
  t.same(spoolFiles(relay.dataDir), [], 'spool file count back to 0');
  t.equal(bodyState(ferry, mixed).spoolFile, null);
});

t.test('keepBodiesHours keeps a finished body that long, then the periodic pass removes it', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const { ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false },
    config: { spool: { inlineMaxBytes: 1024 }, retention: { keepBodiesHours: 2, sweepIntervalMs: 60_000 } },
  });
  const big = await send(relay, { from: '', to: ['b@example.test'], raw: BIG });
  const small = await send(relay, { from: '', to: ['a@example.test'] });
  await waitFor(ferry, big, isStatus('delivered'));
  await waitFor(ferry, small, isStatus('delivered'));
  for (let i = 0; i < 5; i++) {
    clock.advance(60_000);
    await tick(20);
  }
  await ferry.retention.run();
  t.equal(spoolFiles(relay.dataDir).length, 1, 'five minutes later the spool file is still there');
  t.ok(bodyState(ferry, small).body, 'and the inline body');

  clock.advance(2 * 3_600_000);
  await until('the kept bodies to go', () => spoolFiles(relay.dataDir).length === 0 && bodyState(ferry, small).body === null, () => clock.advance(60_000));
  t.pass('after keepBodiesHours the periodic pass removed both');
  t.equal(ferry.queue.recipients.forMessage(big)[0]!.status, 'delivered', 'the record stays');
});

t.test('ferry prune: records older than retention.days go (dry run first), recent ones and the suppression list stay', async (t) => {
  const DAY = 86_400_000;
  const dataDir = tempDir(t);
  const mxScript = { rcpt: (a: string) => (a.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) };
  // The relays keep records themselves (days: 0), so what is pruned here is the CLI's doing.
  const first = await setupDelivery(t, { clock: new ManualClock(Date.now() - 40 * DAY), mx: { tls: false, script: mxScript }, config: { dataDir, retention: { days: 0 } } });
  const old = await send(first.relay, { from: '', to: ['kept@example.test', 'gone@example.test'] });
  await waitFor(first.ferry, old, isStatus('delivered', 'bounced'));
  await first.ferry.stop();
  const { ferry, relay } = await setupDelivery(t, { mx: { tls: false, script: mxScript }, config: { dataDir, retention: { days: 0 } } });
  t.ok(ferry.db.prepare('SELECT 1 FROM suppressions WHERE address = ?').get('gone@example.test'), 'the bounce suppressed the address');
  const recent = await send(relay, { from: '', to: ['new@example.test'] });
  await waitFor(ferry, recent, isStatus('delivered'));
  const count = (table: string) => (ferry.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const before = { messages: count('messages'), recipients: count('recipients'), attempts: count('attempts'), events: count('events') };
  const env = { FERRY_DATA_DIR: relay.dataDir };

  const dry = await runFerry(['prune', '--dry-run', '--json'], { env });
  t.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout) as { dryRun: boolean; messages: number; recipients: number; attempts: number; events: number; days: number };
  t.match(plan, { dryRun: true, messages: 1, recipients: 2, attempts: 2, days: 30 });
  t.ok(plan.events >= 4, 'accepted and final events of both recipients');
  t.same({ messages: count('messages'), recipients: count('recipients'), attempts: count('attempts'), events: count('events') }, before, 'a dry run deletes nothing');

  const real = await runFerry(['prune'], { env });
  t.equal(real.code, 0, real.stderr);
  t.match(real.stdout, /Prune finished/);
  t.match(real.stdout, /messages finished more than 30 days ago\s*│\s*1\b/);
  t.match(real.stdout, /The suppression list is never pruned by age/);
  t.equal(ferry.queue.messages.get(old), undefined, 'the old message is gone');
  t.same(ferry.queue.recipients.forMessage(old), []);
  t.same(ferry.queue.events.forMessage(old), []);
  t.equal((ferry.db.prepare('SELECT count(*) AS n FROM attempts WHERE message_id = ?').get(old) as { n: number }).n, 0);
  t.equal(ferry.queue.recipients.forMessage(recent)[0]!.status, 'delivered', 'the recent message stays');
  t.equal(count('events'), before.events - plan.events);
  t.ok(ferry.db.prepare('SELECT 1 FROM suppressions WHERE address = ?').get('gone@example.test'), 'the 40-day-old suppression stays');

  const again = await runFerry(['prune', '--json'], { env });
  t.match(JSON.parse(again.stdout), { messages: 0, events: 0 }, 'nothing left to prune');
  const bad = await runFerry(['prune', '--days', 'soon'], { env });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^ferry: --days "soon": expected a number of days/);
});
