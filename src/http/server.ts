import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { splitHostPort } from '../config/load.js';
import type { ReadinessReport } from '../ops/health.js';

export interface HttpDeps {
  /** host:port; port 0 picks a free one (tests). */
  listen: string;
  logger: Logger;
  metrics: { contentType: string; render(): Promise<string> };
  readiness: () => ReadinessReport;
  /** The /healthz body: who answers (version, pid, listeners). */
  about: () => Record<string, unknown>;
}

export interface HttpEndpoint {
  /** Binds; resolves with the bound "host:port". */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The operator's HTTP endpoint (node:http, no framework): /metrics for Prometheus, /healthz
 * (the process answers), /readyz (it can take mail: 200, or 503 naming the failing checks).
 */
export function createHttpEndpoint(deps: HttpDeps): HttpEndpoint {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      deps.logger.error({ err, url: req.url }, 'http endpoint: request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ ok: false, error: 'internal error' }));
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'application/json', JSON.stringify({ ok: false, error: 'method not allowed' }));
    }
    if (path === '/metrics') return send(res, 200, deps.metrics.contentType, await deps.metrics.render());
    if (path === '/healthz') return send(res, 200, 'application/json', JSON.stringify({ ok: true, ...deps.about() }));
    if (path === '/readyz') {
      const report = deps.readiness();
      const failing = report.checks.filter((c) => !c.ok).map((c) => c.name);
      return send(res, report.ok ? 200 : 503, 'application/json', JSON.stringify({ ok: report.ok, failing, checks: report.checks }));
    }
    send(res, 404, 'application/json', JSON.stringify({ ok: false, error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] }));
  }

  function send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  return {
    start() {
      const { host, port } = splitHostPort(deps.listen);
      return new Promise((resolve, reject) => {
        const onError = (err: Error) =>
          reject(new FerryError('FERRY_ERR_CONFIG', `http.listen: cannot listen on ${deps.listen}: ${err.message}`, { cause: err }));
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          server.on('error', (err) => deps.logger.warn({ err: err.message }, 'http endpoint error'));
          const a = server.address();
          resolve(typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : deps.listen);
        });
      });
    },
    stop() {
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections (a scraper) would hold close() open.
        for (const s of sockets) s.destroy();
      });
    },
  };
}
