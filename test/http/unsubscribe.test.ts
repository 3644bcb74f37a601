import t from 'tap';
import Fastify from 'fastify';
import formbody from '@fastify/formbody';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { unsubscribeRoutes } from '../../src/http/unsubscribe.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { createOneClick } from '../../src/suppress/one-click.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { createUnsubscriber, tokenFromMail } from '../../src/suppress/unsubscriber.js';
import { accepted, testDb } from '../helpers/store.js';

const NOW = Date.UTC(2026, 11, 6, 12);

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const { db } = testDb(t);
  const queue = createQueueStore(db);
  const m = accepted({ recipients: ['alice@example.net', 'bob@example.net'] });
  m.message.username = 'shop';
  m.message.dsnEnvid = 'env-1';
  queue.accept([m]);
  const clock = new ManualClock(NOW);
  const suppressions = testSuppressions(db, () => clock.now());
  const oneClick = createOneClick({ secret: 'unsubscribe-secret-123456', baseUrl: 'https://mail.example.com', mailto: null });
  let recorded = 0;
  const unsubscriber = createUnsubscriber({ store: createInProcessSqliteStore(db), oneClick, clock, logger: createLogger('silent'), onRecorded: () => recorded++ });
  const token = (recipient: string) => oneClick.token({ queueId: m.message.id, user: 'shop', recipient });
  const events = () => queue.events.forMessage(m.message.id).filter((e) => e.type === 'unsubscribed');
  return { db, queue, suppressions, unsubscriber, token, events, messageId: m.message.id, recorded: () => recorded };
}

t.test('inject: GET shows a page and changes nothing; POST suppresses that recipient for that user, once; forged tokens do nothing', async (t) => {
  const s = setup(t);
  const app = Fastify();
  await app.register(unsubscribeRoutes, { unsubscriber: s.unsubscriber });
  t.teardown(() => app.close());
  const alice = s.token('alice@example.net');

  const get = await app.inject({ method: 'GET', url: `/unsubscribe?t=${alice}` });
  t.equal(get.statusCode, 200);
  t.match(get.headers['content-type'], /text\/html/);
  t.match(get.body, /alice@example\.net/);
  t.match(get.body, /<form method="post" action="\?t=u1\.[^"]+"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button/);
  t.equal(s.suppressions.repo.list({}, 100).length, 0, 'a GET changes nothing');
  t.equal(s.events().length, 0);

  t.equal((await app.inject({ method: 'GET', url: '/unsubscribe?t=nonsense' })).statusCode, 404);
  t.equal((await app.inject({ method: 'GET', url: '/unsubscribe' })).statusCode, 404);

  const post = await app.inject({
    method: 'POST',
    url: `/unsubscribe?t=${alice}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'List-Unsubscribe=One-Click',
  });
  t.equal(post.statusCode, 200);
  t.match(post.body, /alice@example\.net<\/strong> will get no more mail from this sender/);
  const entry = s.suppressions.find('alice@example.net', 'shop');
  t.match(entry, { address: 'alice@example.net', category: 'unsubscribed', source: 'one-click', scope: 'shop' });
  t.equal(s.suppressions.find('alice@example.net', null), null, 'not global: scoped to the sending user');
  t.equal(s.suppressions.find('alice@example.net', 'other-user'), null);
  t.equal(s.suppressions.find('bob@example.net', 'shop'), null, 'only that recipient');
  t.equal(s.events().length, 1);
  t.match(s.events()[0], { recipient: 'alice@example.net', category: 'unsubscribed', detail: { via: 'https', user: 'shop', envid: 'env-1' } });
  t.ok(s.events()[0]!.recipientId, 'the event names the recipient row');
  t.equal(s.recorded(), 1, 'webhooks are poked');

  const again = await app.inject({ method: 'POST', url: `/unsubscribe?t=${alice}`, headers: { 'content-type': 'text/plain' }, payload: 'List-Unsubscribe=One-Click' });
  t.equal(again.statusCode, 200, 'a repeated click is fine');
  t.equal(s.events().length, 1, 'and records no second event');

  // Alice's token altered to name Bob: the MAC no longer matches.
  const [, , mac] = alice.split('.') as [string, string, string];
  const payload = Buffer.from(JSON.stringify([s.messageId, 'shop', 'bob@example.net'])).toString('base64url');
  const forged = await app.inject({ method: 'POST', url: `/unsubscribe?t=u1.${payload}.${mac}`, payload: '' });
  t.equal(forged.statusCode, 404);
  t.equal(s.suppressions.find('bob@example.net', 'shop'), null, 'a token replayed for another recipient does nothing');
  t.equal((await app.inject({ method: 'POST', url: '/unsubscribe?t=u1.x.y' })).statusCode, 404);
  t.equal(s.suppressions.repo.list({}, 100).length, 1);
});

t.test('a real listening server, next to a parent that parses forms itself; RFC 8058 multipart body', async (t) => {
  const s = setup(t);
  const app = Fastify();
  await app.register(formbody);
  await app.register(unsubscribeRoutes, { unsubscriber: s.unsubscriber });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const bob = s.token('bob@example.net');

  const page = await fetch(`${base}/unsubscribe?t=${bob}`);
  t.equal(page.status, 200);
  t.match(await page.text(), /bob@example\.net/);
  t.equal(s.suppressions.find('bob@example.net', 'shop'), null, 'GET changes nothing');

  const form = new FormData();
  form.set('List-Unsubscribe', 'One-Click');
  const res = await fetch(`${base}/unsubscribe?t=${bob}`, { method: 'POST', body: form });
  t.equal(res.status, 200);
  await res.text();
  t.match(s.suppressions.find('bob@example.net', 'shop'), { category: 'unsubscribed', source: 'one-click' });

  const url = await fetch(`${base}/unsubscribe?t=${s.token('carol@example.net')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
  });
  t.equal(url.status, 200, 'form-encoded through the parent\'s parser');
  await url.text();
  t.ok(s.suppressions.find('carol@example.net', 'shop'));
});

t.test('by mail: the token is the last word of the Subject', async (t) => {
  t.equal(await tokenFromMail(Buffer.from('From: a@b\r\nSubject: Re: unsubscribe u1.abc.def\r\n\r\nhi\r\n')), 'u1.abc.def');
  t.equal(await tokenFromMail(Buffer.from('From: a@b\r\nSubject: please stop\r\n\r\n')), null);
  t.equal(await tokenFromMail(Buffer.from('From: a@b\r\n\r\n')), null);
  const s = setup(t);
  t.match(await s.unsubscriber.unsubscribe(s.token('alice@example.net'), 'mailto'), { ok: true, created: true });
  t.same(await s.unsubscriber.unsubscribe('u1.bad.token', 'mailto'), { ok: false });
});
