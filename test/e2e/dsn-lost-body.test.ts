import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../src/core/logger.js';
import { startRelay, queuedId, tempDir } from '../helpers/relay.js';
import { dsnFields, mx, parse, submit, waitFor } from '../helpers/bounce.js';

/**
 * A disk fault loses a queued message's spool file while Ferry is down: at the next start its
 * waiting recipients expire with the reason, and the sender gets a DSN saying the relay lost the
 * message (Status 5.3.0), so nobody is left believing it is still on its way.
 */
t.test('a body lost while stopped: recipients expire and the sender is told, once', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 451, message: '4.3.0 try again later' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const dataDir = tempDir(t);
  const overrides = {
    dataDir,
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
    // Finished bodies are kept a while: the record of the loss must not rely on retention removing the reference.
    retention: { keepBodiesHours: 24 },
  };
  const first = await startRelay(t, overrides);
  // Larger than spool.inlineMaxBytes: the body lives in a spool file.
  const id = queuedId(await submit(first.smtpPort, { from: 'app@sender.test', to: ['a@example.net', 'b@example.net'], subject: 'Quarterly report', text: 'x'.repeat(76).concat('\n').repeat(3000) }));
  await waitFor(() => first.ferry.queue.recipients.forMessage(id).every((r) => r.status === 'deferred'), 10_000, 'both deferred');
  const file = first.ferry.queue.messages.get(id)!.spoolFile;
  t.ok(file, 'the body is in a spool file');
  await first.ferry.stop();
  rmSync(join(dataDir, 'spool', file!));

  const logs = capture();
  const second = await startRelay(t, overrides, { logger: logs.logger });
  const rows = second.ferry.queue.recipients.forMessage(id);
  t.same(rows.map((r) => r.status), ['expired', 'expired'], 'expired at start-up');
  t.match(rows[0]!.lastReply, /spool file missing at start-up/);

  await senderMx.waitForMessages(1, 10_000);
  const mail = senderMx.messages[0]!;
  t.equal(mail.envelope.from, '', 'a DSN, with a null sender');
  t.same(mail.envelope.to, ['app@sender.test']);
  const parsed = await parse(mail.raw);
  t.match(parsed.subject, /^Undelivered Mail Returned to Sender: Quarterly report/);
  t.match(parsed.text, /<a@example\.net>: the relay lost its stored copy of your message/);
  t.match(parsed.text, /<b@example\.net>: the relay lost its stored copy/);
  const status = parsed.attachments.find((a) => a.contentType === 'message/delivery-status');
  const fields = dsnFields(status!.content.toString());
  t.same(fields.recipients.map((r) => r.status), ['5.3.0', '5.3.0']);
  t.notOk(fields.recipients.some((r) => 'will-retry-until' in r), 'no promise of further tries');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(senderMx.messages.length, 1, 'one report');
  t.equal((second.ferry.db.prepare('SELECT count(*) AS n FROM dsn_outbox').get() as { n: number }).n, 0, 'nothing left in the outbox');
  t.equal(logs.lost().length, 1, 'the loss is logged once at this start');
  const events = second.ferry.queue.events.forMessage(id).length;
  await second.ferry.stop();

  // Later starts neither log the loss again nor report it again.
  for (let i = 0; i < 2; i++) {
    const again = capture();
    const relay = await startRelay(t, overrides, { logger: again.logger });
    await new Promise((r) => setTimeout(r, 300));
    t.same(again.lost(), [], `restart ${i + 1}: the loss is not logged again`);
    t.equal(relay.ferry.queue.events.forMessage(id).length, events, `restart ${i + 1}: no new event`);
    t.ok((relay.ferry.db.prepare('SELECT body_lost_at FROM messages WHERE id = ?').get(id) as { body_lost_at: number | null }).body_lost_at, 'the loss is recorded on the message');
    await relay.ferry.stop();
  }
  t.equal(senderMx.messages.length, 1, 'still one report');
});

t.test('a finished message whose spool file is gone (removed before a crash) is not a lost body', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  const dataDir = tempDir(t);
  const overrides = { dataDir, dmarc: { mode: 'off' }, routes: { 'example.net': `127.0.0.2:${recipientMx.port}` }, retention: { keepBodiesHours: 24 } };
  const first = await startRelay(t, overrides);
  const id = queuedId(await submit(first.smtpPort, { from: 'app@sender.test', to: ['a@example.net'], subject: 'Done', text: 'x'.repeat(76).concat('\n').repeat(3000) }));
  await waitFor(() => first.ferry.queue.recipients.forMessage(id).every((r) => r.status === 'delivered'), 10_000, 'delivered');
  const file = first.ferry.queue.messages.get(id)!.spoolFile;
  t.ok(file, 'kept (keepBodiesHours)');
  await first.ferry.stop();
  rmSync(join(dataDir, 'spool', file!));

  const logs = capture();
  const second = await startRelay(t, overrides, { logger: logs.logger });
  t.same(logs.lost(), [], 'no "lost" report');
  t.equal(second.ferry.queue.recipients.forMessage(id)[0]!.status, 'delivered', 'the recipient stays delivered');
  t.equal(second.ferry.queue.messages.get(id)!.spoolFile, null, 'the row no longer points at the file');
  t.equal(second.ferry.queue.events.forMessage(id).at(-1)!.type, 'delivered', 'no expiry event');
});

function capture() {
  const lines: { msg?: string; level?: number }[] = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as { msg?: string }) } as never);
  return { logger, lost: () => lines.filter((l) => /lost its spool file|body was lost/.test(l.msg ?? '')) };
}
