import t from 'tap';
import { mx, submit, waitFor } from '../helpers/bounce.js';
import { runFerry } from '../helpers/cli.js';
import { addAdmin, ConsoleClient } from '../helpers/console.js';
import { startRelay } from '../helpers/relay.js';
import { createAdminsRepo } from '../../src/store/admins-repo.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { createLimitsRepo } from '../../src/store/limits-repo.js';
import { systemClock } from '../../src/core/clock.js';

// The console over real HTTP (no browser): sessions, throttling, CSRF, roles, each page's
// content, and the events that name who changed what.

type T = Parameters<Parameters<typeof t.test>[1]>[0];

async function setup(t: T, http: Record<string, unknown> = {}) {
  const server = await mx(t, {
    host: '127.0.0.2',
    script: { rcpt: (a) => (a.endsWith('@slow.test') ? { code: 451, message: '4.2.1 Mailbox busy, try again later' } : null) },
  });
  const relay = await startRelay(t, { http: { listen: '127.0.0.1:0', ...http }, dmarc: { mode: 'off' }, routes: { '*': `127.0.0.2:${server.port}` } });
  await addAdmin(relay.ferry.db, 'sam', 'support-password', 'support');
  await addAdmin(relay.ferry.db, 'ada', 'admin-password', 'admin');
  const address = relay.ferry.addresses!.http!;
  const client = () => new ConsoleClient(`http://${address}`);
  const list = testSuppressions(relay.ferry.db);
  return { ...relay, server, address, client, list };
}

t.test('sessions: login, cookie flags, throttling, logout, removed account', async (t) => {
  const { client, ferry, address } = await setup(t);
  const anon = client();
  const r = await anon.get('/suppressions?q=x');
  t.equal(r.status, 303);
  t.equal(r.location, '/login?next=%2Fsuppressions%3Fq%3Dx');
  t.equal((await anon.post('/queue/retry', { domain: 'x.test' })).status, 401, 'a POST without a session is refused');
  t.equal((await fetch(`http://${address}/metrics`)).status, 200, '/metrics needs no login');
  const nf = await fetch(`http://${address}/nope`);
  t.equal(nf.status, 404);
  t.same((await nf.json()).paths, ['/metrics', '/healthz', '/readyz']);

  const wrong = await anon.login('sam', 'not-the-password');
  t.equal(wrong.status, 401);
  t.match(wrong.body, /Wrong username or password/);
  t.equal(anon.jar.has('ferry_session'), false);

  const sam = client();
  await sam.get('/login');
  const ok = await sam.post('/login', { username: 'sam', password: 'support-password' });
  t.equal(ok.status, 303);
  const setCookie = ok.headers.getSetCookie().find((c) => c.startsWith('ferry_session='))!;
  t.match(setCookie, /HttpOnly/i);
  t.match(setCookie, /SameSite=Strict/i);
  t.notMatch(setCookie, /Secure/i, 'plain HTTP: no Secure flag');
  t.equal((await sam.get('/')).status, 200);

  const back = client();
  const form = await back.get('/login?next=%2Fqueue%3Fdomain%3Dx.test');
  t.match(form.body, /action="\/login\?next=%2Fqueue%3Fdomain%3Dx.test"/, 'the form keeps where the visitor was going');
  t.equal((await back.request('/login?next=%2Fqueue%3Fdomain%3Dx.test', { form: { username: 'sam', password: 'support-password' } })).location, '/queue?domain=x.test');
  const offsite = client();
  await offsite.get('/login');
  t.equal((await offsite.request('/login?next=%2F%2Fevil.test', { form: { username: 'sam', password: 'support-password' } })).location, '/', 'never to another site');

  await sam.post('/logout', {});
  t.equal((await sam.get('/')).status, 303, 'logged out');

  const again = client();
  await again.login('sam', 'support-password');
  t.equal((await again.get('/queue')).status, 200);
  createAdminsRepo(ferry.db).remove('sam');
  t.equal((await again.get('/queue')).status, 303, 'a removed account loses its session at the next request');

  // Five failures lock the name (and the client address) out, even for the right password afterwards.
  const mallory = client();
  // The address already has one failure (sam's wrong password above): a right password for one
  // account does not forgive the address's guesses (the same throttle as SMTP AUTH), so the
  // fourth guess reaches the limit of 5.
  for (let i = 0; i < 5; i++) t.equal((await mallory.login('ada', `guess-${i}`)).status, i < 3 ? 401 : 429);
  const locked = await mallory.login('ada', 'admin-password');
  t.equal(locked.status, 429);
  t.match(locked.body, /Too many failed logins/);
  t.equal(mallory.jar.has('ferry_session'), false);
});

t.test('behind a TLS reverse proxy (trustProxy) the session cookie is Secure', async (t) => {
  const { client } = await setup(t, { trustProxy: true });
  const c = client();
  await c.request('/login', { headers: { 'x-forwarded-proto': 'https' } });
  const r = await c.request('/login', { form: { _csrf: c.csrf, username: 'ada', password: 'admin-password' }, headers: { 'x-forwarded-proto': 'https' } });
  t.equal(r.status, 303);
  t.match(r.headers.getSetCookie().find((x) => x.startsWith('ferry_session='))!, /Secure/);
});

t.test('CSRF and roles; every change is an event naming the account', async (t) => {
  const { client, list, ferry, dataDir } = await setup(t);
  list.suppress('bob@dest.test', 'user_unknown', '550 5.1.1 no such user', 'bounce');
  const id = list.repo.get('bob@dest.test', null)!.id;
  const sam = client();
  await sam.login('sam', 'support-password');
  await sam.get('/suppressions');

  const forged = await sam.post('/suppressions/remove', { id: String(id) }, false);
  t.equal(forged.status, 403, 'no CSRF token: refused');
  t.match(forged.body, /CSRF/);
  const wrongToken = await sam.request('/suppressions/remove', { form: { _csrf: 'x'.repeat(40), id: String(id) }, withCsrf: false });
  t.equal(wrongToken.status, 403);
  t.ok(list.repo.get('bob@dest.test', null), 'still suppressed');

  for (const [path, form] of [
    ['/suppressions/add', { address: 'x@y.test', category: 'manual' }],
    ['/suppressions/clear', { domain: 'dest.test' }],
    ['/queue/purge', { domain: 'dest.test' }],
    ['/limits', { target: 'gmail.com', perMinute: '5' }],
  ] as const) {
    const r = await sam.post(path, form);
    t.equal(r.status, 403, `support may not ${path}`);
    t.match(r.body, /needs the admin role/);
  }
  t.equal(list.repo.get('bob@dest.test', null)?.address, 'bob@dest.test');
  t.equal(createLimitsRepo(ferry.db).get('gmail.com'), undefined);

  const removed = await sam.post('/suppressions/remove', { id: String(id), back: '/search?q=bob%40dest.test' });
  t.equal(removed.status, 303);
  t.equal(removed.location, '/search?q=bob%40dest.test');
  t.equal(list.repo.get('bob@dest.test', null), undefined, 'removed');
  t.match((await sam.get(removed.location!)).body, /Removed bob@dest\.test from the suppression list/);
  t.equal((await sam.post('/suppressions/remove', { id: String(id) })).status, 404, 'removing it twice: not found');
  t.equal((await sam.post('/suppressions/remove', { id: '1', back: '//evil.test/' })).status, 404);

  const events = await runFerry(['events', 'list', '--type', 'suppression_removed'], { env: { FERRY_DATA_DIR: dataDir, COLUMNS: '300' } });
  t.equal(events.code, 0, events.stderr);
  t.match(events.stdout, /suppression_removed/);
  t.match(events.stdout, /bob@dest\.test/);
  t.match(events.stdout, /removed from the suppression list by sam/, 'ferry events list shows who removed it');
});

t.test('suppressions: keyset pages, searches, add, clear, import report, export', async (t) => {
  const { client, list, ferry } = await setup(t);
  const audit = (type: string) => ferry.queue.events.list({ type, limit: 10 });
  for (let i = 0; i < 120; i++) list.suppress(`user${String(i).padStart(3, '0')}@big.test`, 'user_unknown', `bounced ${i}`, 'bounce');
  list.suppress('@whole.test', 'manual', 'a domain', 'manual');
  const ada = client();
  await ada.login('ada', 'admin-password');

  const seen = new Set<string>();
  let path: string | null = '/suppressions';
  let pages = 0;
  while (path) {
    const r = await ada.get(path);
    t.equal(r.status, 200);
    for (const m of r.body.matchAll(/<td><a href="\/search\?q=[^"]+">([^<]+)<\/a><\/td>/g)) seen.add(m[1]!);
    const next = /<a rel="next" href="([^"]+)"/.exec(r.body);
    path = next ? next[1]!.replace(/&amp;/g, '&') : null;
    pages++;
  }
  t.equal(pages, 3, '121 entries in pages of 50');
  t.equal(seen.size, 121, 'every entry once');

  const noSuchDomain = await ada.get('/suppressions?q=user11');
  t.match(noSuchDomain.body, /No entries match/, 'text without @ is read as a domain');
  const addressPrefix = [...(await ada.get('/suppressions?q=user011%40')).body.matchAll(/<td><a href="\/search\?q=[^"]+">([^<]+)<\/a><\/td>/g)].map((m) => m[1]);
  t.same(addressPrefix, ['user011@big.test'], 'an address prefix');
  const domain = [...(await ada.get('/suppressions?q=%40big.test')).body.matchAll(/<td><a href="\/search\?q=[^"]+">([^<]+)<\/a><\/td>/g)];
  t.equal(domain.length, 50, 'a whole domain, first page');

  const added = await ada.post('/suppressions/add', { address: 'New@Example.COM', category: 'manual', reason: 'asked', expiresDays: '30' });
  t.equal(added.status, 303);
  t.match(list.repo.get('new@example.com', null), { category: 'manual', source: 'manual', reason: 'asked' });
  t.match(audit('suppression_added'), [{ recipient: 'new@example.com', detail: { admin: 'ada', role: 'admin', via: 'console', reply: 'added to the suppression list by ada: asked' } }]);
  t.equal((await ada.post('/suppressions/add', { address: 'not an address', category: 'manual' })).status, 400);
  t.equal((await ada.post('/suppressions/add', { address: 'a@b.test', category: 'manual', expiresDays: 'soon' })).status, 400);

  const cleared = await ada.post('/suppressions/clear', { domain: 'big.test' });
  t.equal(cleared.status, 303);
  t.equal(list.repo.count({ domain: 'big.test' }), 0);
  t.match(audit('suppressions_cleared'), [{ recipient: '@big.test', detail: { admin: 'ada', removed: 120 } }]);
  t.equal((await ada.post('/suppressions/clear', {})).status, 400, 'clearing needs a domain or category');

  await ada.get('/suppressions');
  const form = new FormData();
  form.append('file', new Blob(['address,reason,category\nann@example.com,stop,manual\nbroken,,\n@trap.test,trap,manual\nzed@example.com,x,what\n'], { type: 'text/csv' }), 'list.csv');
  const imported = await ada.request(`/suppressions/import?_csrf=${encodeURIComponent(ada.csrf)}`, { method: 'POST', body: form });
  t.equal(imported.status, 200);
  t.match(imported.body, /<strong>2<\/strong> entries imported, <strong>2<\/strong> rows skipped/);
  t.match(imported.body, /<td>3<\/td><td>[^<]*broken/);
  t.match(imported.body, /<td>5<\/td><td>[^<]*what/);
  t.ok(list.repo.get('ann@example.com', null));
  t.match(audit('suppressions_imported'), [{ detail: { admin: 'ada', imported: 2, skipped: 2, reply: '2 entries imported by ada (2 rows skipped)' } }], 'the import and the event naming the admin');
  const noToken = new FormData();
  noToken.append('file', new Blob(['address\nx@y.test\n']), 'x.csv');
  t.equal((await ada.request('/suppressions/import', { method: 'POST', body: noToken })).status, 403, 'an upload without a CSRF token is refused');

  const csv = await ada.get('/suppressions/export.csv');
  t.equal(csv.status, 200);
  t.match(csv.headers.get('content-type'), /text\/csv/);
  t.match(csv.body, /^address,reason,category,expires,user\n/);
  t.match(csv.body, /ann@example\.com,stop,manual/);
  t.match(csv.body, /@whole\.test/);
});

t.test('search: plain words for each state, escaping, queue retry and purge', async (t) => {
  const { client, ferry, smtpPort, server } = await setup(t);
  const idOf = (reply: string) => /queued as (\S+)/.exec(reply)![1]!;
  const delivered = idOf(await submit(smtpPort, { from: 'shop@sender.test', to: 'dana@dest.test', subject: '<script>alert(1)</script>', messageId: '<order-7@sender.test>' }));
  const slow = idOf(await submit(smtpPort, { from: 'shop@sender.test', to: 'eve@slow.test', subject: 'Slow one' }));
  await waitFor(() => ferry.queue.recipients.forMessage(delivered)[0]?.status === 'delivered', 15_000, 'delivered');
  await waitFor(() => ferry.queue.recipients.forMessage(slow)[0]?.status === 'deferred', 15_000, 'deferred');

  const sam = client();
  await sam.login('sam', 'support-password');
  let r = await sam.get('/search?q=dana%40dest.test');
  t.match(r.body, /<span class="badge">Delivered<\/span>/);
  t.notMatch(r.body, /<script>alert/, 'the subject is escaped');
  t.match(r.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.match(r.headers.get('content-security-policy'), /script-src 'self'/);

  ferry.queue.recipients.markComplained(ferry.queue.recipients.forMessage(delivered)[0]!.id, Date.now());
  r = await sam.get('/search?q=DANA%40dest.test');
  t.match(r.body, /<span class="badge">Spam<\/span>/, 'a complaint shows as Spam');
  t.match(r.body, /reported our mail as spam/);

  r = await sam.get('/search?q=eve%40slow.test');
  t.match(r.body, /<span class="badge">Deferred<\/span>/);
  t.match(r.body, /Will retry until <time>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/);
  t.match(r.body, /4\.2\.1 Mailbox busy/);
  t.match((await sam.get('/search?q=%3Corder-7%40sender.test%3E')).body, /to dana@dest\.test/, 'by Message-ID');
  t.match((await sam.get(`/search?q=${slow}`)).body, /to eve@slow\.test/, 'by queue id');
  const bySender = (await sam.get('/search?q=shop%40sender.test')).body;
  t.match(bySender, /Messages from shop@sender\.test/);
  t.match(bySender, /to eve@slow\.test/);
  t.match((await sam.get('/search?q=nobody%40nowhere.test')).body, /Nothing found/);

  const q = await sam.get('/queue');
  t.match(q.body, /slow\.test/);
  t.match(q.body, /Mailbox busy/, 'the last reply per destination');
  t.match((await sam.get('/queue?domain=slow.test')).body, /eve@slow\.test/);
  const retried = await sam.post('/queue/retry', { message: slow });
  t.equal(retried.status, 303);
  t.match(ferry.queue.events.list({ type: 'queue_retried', limit: 10 })[0], { messageId: slow, detail: { admin: 'sam', due: 1 } });
  t.equal((await sam.post('/queue/retry', {})).status, 400);

  const ada = client();
  await ada.login('ada', 'admin-password');
  await ada.get('/queue');
  const before = server.messages.length;
  const purged = await ada.post('/queue/purge', { message: slow });
  t.equal(purged.status, 303);
  await waitFor(() => ferry.queue.recipients.forMessage(slow)[0]?.status === 'expired', 5_000, 'purged');
  t.match(ferry.queue.events.forMessage(slow).find((e) => e.type === 'expired'), { detail: { reason: 'purged by admin ada (console)' } });
  await waitFor(() => server.messages.slice(before).some((m) => m.envelope.from === '' && m.envelope.to[0] === 'shop@sender.test'), 15_000, 'the DSN');
  t.match((await ada.get('/search?q=eve%40slow.test')).body, /<span class="badge">Expired<\/span>/);
});

t.test('limits: admin edits, support reads; the dashboard per destination', async (t) => {
  const { client, ferry } = await setup(t);
  const ada = client();
  await ada.login('ada', 'admin-password');
  await ada.get('/limits');
  t.equal((await ada.post('/limits', { target: 'Gmail.com', perMinute: '60', perHour: '', perDay: '1000', connections: '', perConnection: '' })).status, 303);
  t.match(createLimitsRepo(ferry.db).get('gmail.com'), { perMinute: 60, perHour: null, perDay: 1000 });
  t.match(ferry.queue.events.list({ type: 'limit_changed', limit: 5 })[0], { detail: { admin: 'ada', target: 'gmail.com', perMinute: 60 } });
  t.equal((await ada.post('/limits', { target: 'gmail.com', perMinute: '-1' })).status, 400);
  t.equal((await ada.post('/limits', { target: 'not a domain!' })).status, 400);
  const sam = client();
  await sam.login('sam', 'support-password');
  const view = await sam.get('/limits');
  t.match(view.body, /<td>gmail\.com<\/td><td>60<\/td>/);
  t.notMatch(view.body, /action="\/limits\/remove"/, 'support sees no edit forms');
  await ada.get('/limits');
  t.equal((await ada.post('/limits/remove', { target: 'gmail.com' })).status, 303);
  t.equal(createLimitsRepo(ferry.db).get('gmail.com'), undefined);
  t.equal((await ada.post('/limits/remove', { target: 'gmail.com' })).status, 404);

  // The rollup the dashboard reads is kept by the event log's trigger.
  const hour = Math.floor(Date.now() / 3_600_000);
  ferry.queue.events.append({ at: Date.now(), messageId: 'x', recipientId: null, recipient: 'a@Hotmail.com', type: 'bounced', status: 'bounced', category: 'user_unknown', detail: null });
  ferry.queue.events.append({ at: Date.now(), messageId: 'x', recipientId: null, recipient: 'b@hotmail.com', type: 'delivered', status: 'delivered', category: null, detail: null });
  const d = await sam.get('/?domain=hotmail.com');
  t.equal(d.status, 200);
  t.match(d.body, /aria-label="Delivered: 1 in total/);
  t.match(d.body, /aria-label="Bounced or expired: 1 in total/);
  t.match(d.body, /<td>user_unknown<\/td><td>The address does not exist\.<\/td><td>1<\/td>/);
  t.match(d.body, /<a href="\/\?domain=hotmail\.com">hotmail\.com<\/a><\/td><td>1<\/td><td>0<\/td><td>1<\/td>/);
  t.match(ferry.db.prepare("SELECT * FROM stats_hourly WHERE domain = '*' AND hour = ?").get(hour), { delivered: 1, bounced: 1 });
});
