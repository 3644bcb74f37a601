import t from 'tap';
import pg from 'pg';
import { existsSync, readFileSync } from 'node:fs';
import { startPgServer, testPg } from '../../helpers/postgres.js';

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
