import t from 'tap';
import { startRelay, queuedId, tempDir } from '../helpers/relay.js';
import { mx, submit, waitFor } from '../helpers/bounce.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import type { Ferry } from '../../src/main.js';

const SECRET = 'e2e-webhook-secret-0123456789';

/** Every event row of the log, as a webhook receiver should see it. */
function recorded(ferry: Ferry) {
  return ferry.queue.events.list({ limit: 100_000 }).map((e) => ({
    id: e.id,
    event: e.type,
    queue_id: e.messageId,
    message_id: ferry.queue.messages.getSummary(e.messageId)?.messageIdHeader ?? null,
    recipient: e.recipient,
    status: e.status,
    category: e.category,
    reply: (e.detail?.reply as string | undefined) ?? (e.detail?.reason as string | undefined) ?? null,
    timestamp: new Date(e.at).toISOString(),
    // RFC 3461 ENVID of the message: none of this test's messages gives one
    envid: null,
    detail: e.detail,
  }));
}

t.test('a webhook receiver gets every event exactly as recorded, signed, in order, across a 500 and a restart', async (t) => {
  const receiver = await startWebhookReceiver(t, SECRET, [500]);
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: (a) => (a.startsWith('nobody@') ? { code: 550, message: '5.1.1 <nobody@example.net>: user unknown' } : null) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const dataDir = tempDir(t);
  const overrides = {
    dataDir,
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
    webhooks: { urls: [receiver.url], secret: SECRET, batchSize: 3, retryInitialMs: 50, retryMaxMs: 200, pollIntervalMs: 100 },
  };

  const first = await startRelay(t, overrides);
  const id1 = queuedId(await submit(first.smtpPort, { from: 'app@sender.test', to: ['someone@example.net', 'nobody@example.net'], messageId: '<one@sender.test>' }));
  await senderMx.waitForMessages(1, 10_000); // the DSN for nobody@
  const dsnId = (first.ferry.db.prepare("SELECT id FROM messages WHERE kind = 'dsn'").get() as { id: string }).id;
  await waitFor(() => first.ferry.queue.recipients.forMessage(dsnId)[0]?.status === 'delivered', 10_000, 'the DSN delivered');
  const before = recorded(first.ferry);
  await waitFor(() => receiver.acknowledged().length >= before.length, 10_000, 'the first events acknowledged');
  await first.ferry.stop();

  t.equal(receiver.posts[0]!.status, 500, 'the first POST was answered 500');
  const refused = receiver.posts[0]!.batch.events;
  // The retry starts at the same cursor (it may carry more events recorded meanwhile, up to batchSize).
  t.same(receiver.posts[1]!.batch.events.slice(0, refused.length), refused, 'and the same events came again');

  // Restart on the same data directory: the cursor is in SQLite.
  receiver.script = [];
  const second = await startRelay(t, overrides);
  const id2 = queuedId(await submit(second.smtpPort, { from: 'app@sender.test', to: 'later@example.net', messageId: '<two@sender.test>' }));
  await recipientMx.waitForMessages(2, 10_000);
  await waitFor(() => second.ferry.queue.recipients.forMessage(id2)[0]?.status === 'delivered', 10_000, 'second message delivered');
  const all = recorded(second.ferry);
  await waitFor(() => receiver.acknowledged().length >= all.length, 10_000, 'every event acknowledged');

  const got = receiver.acknowledged();
  t.ok(receiver.posts.every((p) => p.signed), 'every POST carried a valid signature');
  t.same(got.map((e) => e.id), all.map((e) => e.id), 'each event exactly once, in event-id order');
  t.same(got, all, 'every field as recorded in the events table');
  t.ok(got.some((e) => e.queue_id === id1 && e.event === 'bounced' && e.category === 'user_unknown' && /550 5\.1\.1/.test(e.reply ?? '')), 'the bounce, with its category and reply');
  t.ok(got.some((e) => e.queue_id === id1 && e.event === 'delivered' && e.message_id === '<one@sender.test>'), 'the delivery, with the Message-ID header');
  t.ok(got.some((e) => e.queue_id === id2 && e.event === 'delivered'), 'events after the restart');
  t.ok(receiver.posts.every((p) => p.batch.events.length <= 3), 'batches of at most batchSize');
});
