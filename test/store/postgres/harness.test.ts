import t from 'tap';
import pg from 'pg';
import { existsSync, readFileSync } from 'node:fs';
import { sharedPgFile, startPgServer, startSharedPg, stopSharedPg, testPg } from '../../helpers/postgres.js';

t.test('a throwaway server answers on loopback and a database per caller', async (t) => {
  const a = await testPg();
  const b = await testPg();
  t.not(a.url, b.url, 'each caller gets its own database');
  const c = new pg.Client({ connectionString: a.url });
  await c.connect();
  const r = await c.query<{ v: string; s: string }>("SELECT current_setting('server_version_num') AS v, current_setting('synchronous_commit') AS s");
  await c.end();
  t.ok(Number(r.rows[0]!.v) >= 150000, 'PostgreSQL 15 or later');
  t.equal(r.rows[0]!.s, 'on');
  t.match(a.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\//);
  t.equal(a.server.pid, b.server.pid, 'one server per file (or per run)');
  if (existsSync(sharedPgFile())) {
    const rec = JSON.parse(readFileSync(sharedPgFile(), 'utf8')) as { pid: number };
    t.equal(a.server.pid, rec.pid, "under the tap runner: the run's shared server");
  }
});

t.test("the run's shared server: recorded under its key, outlives its starter, stopped by the record", async (t) => {
  const key = `harness-${process.pid}`;
  const rec = await startSharedPg(key);
  t.teardown(() => stopSharedPg(key));
  t.ok(existsSync(sharedPgFile(key)), 'recorded');
  const c = new pg.Client({ connectionString: `${rec.baseUrl}postgres` });
  await c.connect();
  t.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await c.end();
  t.equal(await stopSharedPg(key), true);
  t.notOk(existsSync(sharedPgFile(key)), 'record removed');
  t.notOk(existsSync(rec.dir), 'directory removed');
  t.equal(await stopSharedPg(key), false, 'a second stop finds nothing');
});

t.test('stop ends the server and removes its directory', async (t) => {
  const s = await startPgServer();
  t.ok(existsSync(s.dir));
  await s.stop();
  t.notOk(existsSync(s.dir), 'directory removed');
  // Gone, or a zombie waiting for PID 1 to reap it (pg_ctl detaches the postmaster).
  const state = existsSync(`/proc/${s.pid}/stat`) ? readFileSync(`/proc/${s.pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
  t.ok(state === 'gone' || state === 'Z', `postmaster gone (${state})`);
});
