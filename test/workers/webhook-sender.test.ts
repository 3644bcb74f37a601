import t, { type Test } from 'tap';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { createWebhooksRepo } from '../../src/store/webhooks-repo.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { backoffMs, createWebhookSender } from '../../src/workers/webhook-sender.js';
import { signBody, verifySignature } from '../../src/workers/webhook-payload.js';
import { tempDir } from '../helpers/relay.js';
import { waitFor } from '../helpers/bounce.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-secret-0123456789';

function setup(t: Test, file?: string) {
  const dir = file ? null : tempDir(t);
  const db = openDatabase({ file: file ?? join(dir!, 'ferry.db') });
  t.teardown(() => db.close());
  const queue = createQueueStore(db);
  // The sender works through the Store; the test reads the cursors back through the repository.
  return { db, queue, repo: createWebhooksRepo(db), store: createInProcessSqliteStore(db) };
}

function addMessage(queue: ReturnType<typeof createQueueStore>, id: string, at: number, recipients: string[]): void {
  queue.accept([
    {
      message: {
        id, createdAt: at, sender: 'app@sender.test', username: null, clientIp: '127.0.0.1', helo: 'x', tls: null, size: 10,
        headers: Buffer.from('Subject: x\r\n\r\n'), body: Buffer.from('hi\r\n'), spoolFile: null, headerFrom: 'app@sender.test',
        messageIdHeader: `<${id}@sender.test>`, subject: 'x', eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: recipients.map((a) => ({ address: a, domain: a.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
    },
  ]);
}

t.test('backoff doubles from the initial wait up to the maximum', async (t) => {
  t.same([1, 2, 3, 4, 10].map((n) => backoffMs(n, 1000, 5000)), [1000, 2000, 4000, 5000, 5000]);
});

t.test('signatures: HMAC-SHA256 of the raw body, compared in constant time', async (t) => {
  const body = '{"events":[]}';
  const sig = signBody(SECRET, body);
  t.match(sig, /^sha256=[0-9a-f]{64}$/);
  t.ok(verifySignature(SECRET, body, sig));
  t.notOk(verifySignature(SECRET, `${body} `, sig), 'a changed body fails');
  t.notOk(verifySignature('another-secret-000000', body, sig), 'another key fails');
  t.notOk(verifySignature(SECRET, body, undefined));
  t.notOk(verifySignature(SECRET, body, 'sha256=00'));
});

t.test('500 then 200: the same batch is retried after the backoff (injected clock), then the cursor moves', async (t) => {
  const { queue, repo, store } = setup(t);
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const receiver = await startWebhookReceiver(t, SECRET, [500]);
  const sender = createWebhookSender({
    config: { urls: [receiver.url], secret: SECRET, batchSize: 2, timeoutMs: 5000, pollIntervalMs: 60_000, retryInitialMs: 10_000, retryMaxMs: 60_000 },
    store, clock, logger: silentLogger(), owner: 'node-a', userAgent: 'Ferry/test',
  });
  await sender.start();
  t.teardown(() => sender.stop());
  addMessage(queue, 'M1', clock.now(), ['a@x.test', 'b@x.test', 'c@x.test']);
  sender.poke();

  await waitFor(() => receiver.posts.length === 1, 5000, 'the first POST');
  await waitFor(() => repo.get(receiver.url)!.failures === 1, 5000, 'the failure to be recorded');
  t.equal(receiver.posts[0]!.status, 500);
  t.equal(repo.get(receiver.url)!.lastEventId, 0, 'the cursor stays put after a 500');
  t.equal(repo.get(receiver.url)!.lastError, 'HTTP 500');

  clock.advance(9_999);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(receiver.posts.length, 1, 'no retry before the backoff has passed');
  clock.advance(1);
  await waitFor(() => receiver.posts.length >= 3, 5000, 'the retry and the next batch');
  t.same(receiver.posts[1]!.batch.events.map((e) => e.id), receiver.posts[0]!.batch.events.map((e) => e.id), 'the same batch again');
  t.same(receiver.posts.map((p) => p.batch.events.length), [2, 2, 1], 'batches of at most batchSize');
  t.same(receiver.acknowledged().map((e) => e.id), [1, 2, 3], 'strictly in event-id order');
  await waitFor(() => repo.get(receiver.url)!.lastEventId === 3, 5000, 'the cursor');
  t.equal(repo.get(receiver.url)!.failures, 0);

  const post = receiver.posts[1]!;
  t.ok(post.signed, 'signature verifies');
  t.equal(post.headers['content-type'], 'application/json');
  t.equal(post.headers['x-ferry-timestamp'], String(Math.floor(Date.parse(post.batch.sent_at) / 1000)), 'the timestamp header repeats the signed sent_at');
  t.match(post.batch.events[0], {
    id: 1, event: 'queued', queue_id: 'M1', message_id: '<M1@sender.test>', recipient: 'a@x.test', status: 'queued', category: null, reply: null,
    timestamp: new Date(clock.now() - 10_000).toISOString(),
  });
});

t.test('the cursor survives a restart; a second node does not send while the lease is held', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'ferry.db');
  const { queue, repo, store } = setup(t, file);
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const receiver = await startWebhookReceiver(t, SECRET);
  const make = (owner: string) =>
    createWebhookSender({
      config: { urls: [receiver.url], secret: SECRET, batchSize: 100, timeoutMs: 5000, pollIntervalMs: 1000, retryInitialMs: 1000, retryMaxMs: 1000 },
      store, clock, logger: silentLogger(), owner, userAgent: 'Ferry/test',
    });
  addMessage(queue, 'OLD', clock.now(), ['old@x.test']);
  const first = make('node-a');
  await first.start();
  t.equal(repo.get(receiver.url)!.lastEventId, 1, 'a new URL starts at the end of the log');
  addMessage(queue, 'M1', clock.now(), ['a@x.test']);
  first.poke();
  await waitFor(() => repo.get(receiver.url)!.lastEventId === 2, 5000, 'first batch');

  const other = make('node-b');
  await other.start();
  addMessage(queue, 'M2', clock.now(), ['b@x.test']);
  first.poke();
  other.poke();
  await waitFor(() => repo.get(receiver.url)!.lastEventId === 3, 5000, 'second batch');
  await first.stop();

  // "Restart": a new sender on the same database picks up after the acknowledged cursor.
  addMessage(queue, 'M3', clock.now(), ['c@x.test']);
  clock.advance(1000);
  await waitFor(() => repo.get(receiver.url)!.lastEventId === 4, 5000, 'batch after restart');
  await other.stop();
  t.same(receiver.acknowledged().map((e) => [e.id, e.queue_id]), [[2, 'M1'], [3, 'M2'], [4, 'M3']], 'each event once, in order');
  t.notOk(receiver.posts.some((p) => p.batch.events.some((e) => e.queue_id === 'OLD')), 'history before the URL existed is not replayed');
});

t.test('stop: a POST answered 2xx within the grace moves the cursor; one past the grace is cut and sent again later', async (t) => {
  const { queue, repo, store } = setup(t);
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const pending: { resolve: (r: Response) => void; signal: AbortSignal }[] = [];
  const fakeFetch = ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal!;
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      pending.push({ resolve, signal });
    })) as unknown as typeof fetch;
  const make = (owner: string) =>
    createWebhookSender({
      config: { urls: ['http://127.0.0.1:9/hooks'], secret: SECRET, batchSize: 10, timeoutMs: 60_000, pollIntervalMs: 60_000, retryInitialMs: 1000, retryMaxMs: 1000 },
      store, clock, logger: silentLogger(), owner, userAgent: 'Ferry/test', fetch: fakeFetch,
    });

  const first = make('node-a');
  await first.start();
  addMessage(queue, 'M1', clock.now(), ['a@x.test', 'b@x.test']);
  first.poke();
  await waitFor(() => pending.length === 1, 5000, 'the first POST');
  const stopping = first.stop(2000);
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(pending[0]!.signal.aborted, 'a POST in flight is not cut at once');
  pending[0]!.resolve(new Response('ok', { status: 200 }));
  await stopping;
  t.equal(repo.get('http://127.0.0.1:9/hooks')!.lastEventId, 2, 'answered during the grace: the cursor moved');

  const second = make('node-a');
  await second.start();
  addMessage(queue, 'M2', clock.now(), ['c@x.test']);
  second.poke();
  await waitFor(() => pending.length === 2, 5000, 'the second POST');
  let stopped = false;
  const stopping2 = second.stop(2000).then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(stopped, 'stop waits for the POST');
  clock.advance(2000);
  await stopping2;
  t.ok(pending[1]!.signal.aborted, 'past the grace, the POST is cut');
  t.equal(repo.get('http://127.0.0.1:9/hooks')!.lastEventId, 2, 'and its batch is left for the next start');
});
