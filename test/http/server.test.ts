import t from 'tap';
import { request } from 'node:http';
import { silentLogger } from '../../src/core/logger.js';
import { createHttpEndpoint } from '../../src/http/server.js';

function call(address: string, path: string, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('routes, methods, readiness codes, and failures inside a handler', async (t) => {
  let ready = { ok: true, checks: [{ name: 'database', ok: true, detail: 'writable' }] };
  let failMetrics = false;
  const endpoint = createHttpEndpoint({
    listen: '127.0.0.1:0',
    logger: silentLogger(),
    metrics: {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      render: async () => {
        if (failMetrics) throw new Error('boom');
        return 'x 1\n';
      },
    },
    readiness: () => ready,
    about: () => ({ version: '1.2.3' }),
  });
  const address = await endpoint.start();
  t.teardown(() => endpoint.stop());
  t.match(address, /^127\.0\.0\.1:\d+$/);

  const m = await call(address, '/metrics?x=1');
  t.equal(m.status, 200);
  t.equal(m.body, 'x 1\n');
  t.equal(m.headers['cache-control'], 'no-store');
  t.same(JSON.parse((await call(address, '/healthz')).body), { ok: true, version: '1.2.3' });
  t.equal((await call(address, '/readyz')).status, 200);
  ready = { ok: false, checks: [{ name: 'database', ok: false, detail: 'not writable: SQLITE_BUSY' }] };
  const r = await call(address, '/readyz');
  t.equal(r.status, 503);
  t.same(JSON.parse(r.body).failing, ['database']);
  const head = await call(address, '/healthz', 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  const post = await call(address, '/metrics', 'POST');
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.equal((await call(address, '/')).status, 404);
  failMetrics = true;
  t.equal((await call(address, '/metrics')).status, 500, 'a failing scrape answers 500 and the server lives on');
  t.equal((await call(address, '/healthz')).status, 200);
});

t.test('a taken port is a config error naming http.listen', async (t) => {
  const first = createHttpEndpoint({ listen: '127.0.0.1:0', logger: silentLogger(), metrics: { contentType: 'text/plain', render: async () => '' }, readiness: () => ({ ok: true, checks: [] }), about: () => ({}) });
  const address = await first.start();
  t.teardown(() => first.stop());
  const second = createHttpEndpoint({ listen: address, logger: silentLogger(), metrics: { contentType: 'text/plain', render: async () => '' }, readiness: () => ({ ok: true, checks: [] }), about: () => ({}) });
  await t.rejects(second.start(), { code: 'FERRY_ERR_CONFIG', message: /^http\.listen: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/ });
});

t.test('extra route plugins are served beside the operator endpoints, each in its own context', async (t) => {
  const endpoint = createHttpEndpoint({
    listen: '127.0.0.1:0',
    logger: silentLogger(),
    metrics: { contentType: 'text/plain', render: async () => 'x 1\n' },
    readiness: () => ({ ok: true, checks: [] }),
    about: () => ({}),
    plugins: [
      async (app) => {
        app.addHook('onRequest', async (_req, reply) => void reply.header('x-plugin', 'one'));
        app.get('/one', async () => 'first');
      },
      async (app) => {
        app.post('/two', async () => 'second');
      },
    ],
  });
  const address = await endpoint.start();
  t.teardown(() => endpoint.stop());
  const one = await call(address, '/one');
  t.equal(one.body, 'first');
  t.equal(one.headers['x-plugin'], 'one');
  t.equal((await call(address, '/two', 'POST')).body, 'second');
  const m = await call(address, '/metrics');
  t.equal(m.body, 'x 1\n');
  t.equal(m.headers['x-plugin'], undefined, "a plugin's hooks stay in its own routes");
  t.equal((await call(address, '/elsewhere')).status, 404);
});
