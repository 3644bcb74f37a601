import t, { type Test } from 'tap';
import pg from 'pg';
import type { Store } from '../../../src/core/store.js';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { createConsolePlugin } from '../../../src/http/console/plugin.js';
import type { ConsoleActions } from '../../../src/http/console/actions.js';
import { createHttpEndpoint } from '../../../src/http/server.js';
import { hashPassword } from '../../../src/policy/passwords.js';
import type { DbSuppressionList } from '../../../src/suppress/suppression-list-db.js';
import { ConsoleClient } from '../../helpers/console.js';
import { adminQuery, openTestStore, testPg } from '../../helpers/postgres.js';
import { CONSOLE_CONTRACT } from '../contract/groups-console.js';
import { message } from '../contract/fixtures.js';

// The web console on the PostgreSQL engine: its reads (the console contract) on a database whose
// collation is a language's, and its pages over HTTP reading through a PostgreSQL store.

const T0 = 1_760_000_000_000;
const H = 3_600_000;

t.test('the console reads order text by bytes in a database whose collation is a language’s', async (t) => {
  const { url, server } = await testPg();
  const probe = new pg.Client({ connectionString: url });
  await probe.connect();
  const icu = (await probe.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_collation WHERE collprovider = 'i'")).rows[0]!.n > 0;
  await probe.end();
  if (!icu) {
    t.skip('this PostgreSQL server was built without ICU: no language collation to test against');
    return;
  }
  let seq = 0;
  const engine = {
    name: 'postgres (ICU en-US)',
    async open(t: Test): Promise<Store> {
      const name = `ferry_icu_${process.pid}_${++seq}`;
      await adminQuery(server.baseUrl, `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`);
      // Teardowns run last registered first: the store closes, then its database goes.
      t.teardown(() => adminQuery(server.baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      return openTestStore(t, `${server.baseUrl}${name}`, 'icu');
    },
  };

  // The premise: this database orders the contract's text differently from byte order.
  const s = await engine.open(t);
  const sorted = await (s as unknown as { pool: pg.Pool }).pool.query<{ v: string[] }>(
    "SELECT array_agg(v ORDER BY v) AS v FROM unnest(ARRAY['x1.test', 'x_.test', 'x-.test', 'b-msg', 'B-msg', 'a_tie.test', 'a-tie.test']) AS v",
  );
  t.notSame(sorted.rows[0]!.v, ['B-msg', 'a-tie.test', 'a_tie.test', 'b-msg', 'x-.test', 'x1.test', 'x_.test'], 'the database does not sort by bytes');

  for (const [group, run] of Object.entries(CONSOLE_CONTRACT)) await t.test(group, (t) => run(t, engine));
});

t.test("the console's pages read through the PostgreSQL store", async (t) => {
  const { url } = await testPg();
  const store = await openTestStore(t, url, 'console');
  const clock = new ManualClock(T0 + 30 * 60_000);
  await store.admins.add('sam', await hashPassword('support-password'), 'support', T0);

  // A message with a deferred recipient, a suppression entry, outcome events for the charts, a slowed destination.
  const m = message({ id: 'PGCONSOLE1', at: T0, recipients: ['bob@x.test', 'amy@x.test'] });
  await store.queue.accept([{ ...m, message: { ...m.message, messageIdHeader: '<pg-1@app.test>' } }]);
  const [bob] = await store.recipients.forMessage('PGCONSOLE1');
  await store.recipients.changeStatus(bob!.id, { status: 'deferred', at: T0 + 1, nextAttemptAt: T0 + 60_000, attempted: true, code: 451, reply: '451 4.7.1 greylisted here' });
  await store.suppressions.upsert({ address: 'gone@d.test', domain: 'd.test', category: 'user_unknown', reason: '550 5.1.1 no such user', source: 'bounce', scope: null, createdAt: T0, expiresAt: null });
  await store.events.append({ at: T0 + 2, messageId: 'PGCONSOLE1', recipientId: bob!.id, recipient: 'bob@x.test', type: 'deferred', status: 'deferred', category: 'greylisted', detail: null });
  await store.events.append({ at: T0 + 3, messageId: 'OTHER', recipientId: null, recipient: 'z@bounced.test', type: 'bounced', status: 'bounced', category: 'user_unknown', detail: null });
  await store.limits.saveStates([
    { bucket: 'slow.test', target: 'slow.test', windows: '{}', connections: 0, slowPerMinute: 6, slowRestoreTo: 60, slowSince: T0, slowUntil: T0 + H, slowNextStepAt: null, slowLastHalvedAt: null, slowReason: '421 too fast', updatedAt: T0 },
  ]);

  const refuse = () => {
    throw new Error('the console actions write through SQLite: not part of this test');
  };
  const plugin = createConsolePlugin({
    store,
    actions: new Proxy({}, { get: () => refuse }) as unknown as ConsoleActions,
    suppressions: new Proxy({}, { get: () => refuse }) as unknown as DbSuppressionList,
    clock,
    logger: silentLogger(),
    maxAgeHours: () => 120,
  });
  const http = createHttpEndpoint({
    listen: '127.0.0.1:0',
    logger: silentLogger(),
    metrics: { contentType: 'text/plain', render: async () => '' },
    readiness: () => ({ ok: true, checks: [] }),
    about: () => ({}),
    plugins: [plugin],
  });
  const address = await http.start();
  t.teardown(() => http.stop());
  const c = new ConsoleClient(`http://${address}`);
  t.equal((await c.login('sam', 'support-password')).status, 303, 'logged in (the account read from PostgreSQL)');

  const page = async (path: string, ...want: (string | RegExp)[]) => {
    const r = await c.get(path);
    t.equal(r.status, 200, `${path}: 200`);
    for (const w of want) t.match(r.body, w, `${path} shows ${String(w)}`);
    return r.body;
  };
  await page('/', 'x.test', 'bounced.test', 'user_unknown', 'slow.test', '421 too fast');
  await page('/?domain=x.test', 'x.test');
  await page('/search?q=bob%40x.test', 'PGCONSOLE1', '451 4.7.1 greylisted here', 'app@example.com');
  await page('/search?q=app%40example.com', 'amy@x.test');
  await page('/search?q=%3Cpg-1%40app.test%3E', 'PGCONSOLE1', 'bob@x.test', 'amy@x.test');
  await page('/suppressions', 'gone@d.test', '550 5.1.1 no such user');
  await page('/suppressions?q=gone%40', 'gone@d.test');
  await page('/suppressions?q=%40d.test', 'gone@d.test');
  await page('/queue', 'x.test', '451 4.7.1 greylisted here');
  await page('/queue?domain=x.test', 'bob@x.test', 'amy@x.test');
  await page('/limits', 'slow.test');
  const nul = await c.get('/search?q=bob%00%40x.test');
  t.equal(nul.status, 200, 'a NUL in a search is not an error');
});
