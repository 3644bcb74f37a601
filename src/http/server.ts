import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { splitHostPort } from '../config/load.js';
import type { ReadinessReport } from '../ops/health.js';

/** Routes registered on the operator's HTTP server beside /metrics and the health checks (the console, unsubscribe links). */
export type HttpPlugin = FastifyPluginAsync;

export interface HttpDeps {
  /** host:port; port 0 picks a free one (tests). */
  listen: string;
  logger: Logger;
  metrics: { contentType: string; render(): Promise<string> };
  readiness: () => ReadinessReport | Promise<ReadinessReport>;
  /** The /healthz body: who answers (version, pid, listeners). */
  about: () => Record<string, unknown>;
  /** Further route plugins, each registered in its own encapsulated context, in this order. */
  plugins?: readonly HttpPlugin[];
  /** Believe X-Forwarded-For/-Proto (Ferry behind a reverse proxy on the same host). */
  trustProxy?: boolean;
}

export interface HttpEndpoint {
  /** Binds; resolves with the bound "host:port". */
  start(): Promise<string>;
  stop(): Promise<void>;
}

const OPERATOR_PATHS = ['/metrics', '/healthz', '/readyz'];

/**
 * The operator's HTTP endpoint (fastify): /metrics for Prometheus, /healthz (the process
 * answers), /readyz (it can take mail: 200, or 503 naming the failing checks), and whatever the
 * plugins add (the web console at /).
 */
export function createHttpEndpoint(deps: HttpDeps): HttpEndpoint {
  const app: FastifyInstance = Fastify({
    logger: false,
    trustProxy: deps.trustProxy ?? false,
    requestTimeout: 15_000,
    keepAliveTimeout: 5_000,
    // Idle keep-alive connections (a scraper, a browser) would hold close() open.
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  app.server.headersTimeout = 10_000;

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) deps.logger.error({ err, url: req.url }, 'http endpoint: request failed');
    void reply.code(status).header('cache-control', 'no-store').type('application/json').send(JSON.stringify({ ok: false, error: status === 500 ? 'internal error' : err.message }));
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).header('cache-control', 'no-store').type('application/json').send(JSON.stringify({ ok: false, error: 'not found', paths: OPERATOR_PATHS }));
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  const json = (body: unknown) => JSON.stringify(body);
  app.get('/metrics', async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()));
  app.get('/healthz', async (_req, reply) => reply.type('application/json').send(json({ ok: true, ...deps.about() })));
  app.get('/readyz', async (_req, reply) => {
    const report = await deps.readiness();
    const failing = report.checks.filter((c) => !c.ok).map((c) => c.name);
    return reply.code(report.ok ? 200 : 503).type('application/json').send(json({ ok: report.ok, failing, checks: report.checks }));
  });
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: '/:path(^(?:metrics|healthz|readyz)$)',
    handler: async (_req, reply) => reply.code(405).header('allow', 'GET, HEAD').type('application/json').send(json({ ok: false, error: 'method not allowed' })),
  });
  for (const plugin of deps.plugins ?? []) void app.register(plugin);

  return {
    async start() {
      const { host, port } = splitHostPort(deps.listen);
      try {
        await app.listen({ host, port });
      } catch (err) {
        throw new FerryError('FERRY_ERR_CONFIG', `http.listen: cannot listen on ${deps.listen}: ${(err as Error).message}`, { cause: err });
      }
      app.server.on('error', (err) => deps.logger.warn({ err: err.message }, 'http endpoint error'));
      const a = app.server.address();
      return typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : deps.listen;
    },
    async stop() {
      await app.close();
    },
  };
}
