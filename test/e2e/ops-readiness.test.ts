import t from 'tap';
import { request } from 'node:http';
import { join } from 'node:path';
import Database from '../../src/store/sqlite-driver.js';
import { startRelay } from '../helpers/relay.js';

function get(address: string, path: string): Promise<{ status: number; body: string }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('/readyz fails, naming the database, while another process holds the write lock', async (t) => {
  const { ferry, dataDir } = await startRelay(t, { http: { listen: '127.0.0.1:0' } });
  const http = ferry.addresses!.http!;
  t.equal((await get(http, '/readyz')).status, 200);

  const other = new Database(join(dataDir, 'ferry.db'));
  t.teardown(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  });
  other.exec('BEGIN EXCLUSIVE');
  const started = Date.now();
  const locked = await get(http, '/readyz');
  t.equal(locked.status, 503);
  const body = JSON.parse(locked.body);
  t.same(body.failing, ['database']);
  t.match(body.checks.find((c: { name: string }) => c.name === 'database').detail, /not writable: a write probe has waited/);
  t.ok(Date.now() - started < 4500, 'the probe waits briefly, not the 5 s busy timeout');
  t.equal((await get(http, '/healthz')).status, 200, 'the process still answers');

  other.exec('ROLLBACK');
  // The probe waiting on the writer thread takes the lock at its busy handler's next retry.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await get(http, '/readyz')).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(status, 200, 'ready again once the lock is gone');
  t.equal(ferry.db.pragma('busy_timeout', { simple: true }), 5000, 'the relay keeps its own busy timeout');
});

t.test('the endpoint closes with the relay', async (t) => {
  const { ferry } = await startRelay(t, { http: { listen: '127.0.0.1:0' } });
  const http = ferry.addresses!.http!;
  t.same((await ferry.readiness()).checks.map((c) => [c.name, c.ok]), [['database', true], ['disk', true], ['listeners', true], ['integrity', true]]);
  await ferry.stop();
  await t.rejects(get(http, '/healthz'), { code: 'ECONNREFUSED' });
});
