import Fastify, { type FastifyInstance } from 'fastify';
import { errorMessage, FerryError } from '../core/errors.js';
import { splitHostPort } from '../config/load.js';
import type { Unsubscriber } from '../suppress/unsubscriber.js';
import type { HttpEndpoint } from './server.js';

/**
 * The one-click unsubscribe endpoint (RFC 8058), as a fastify plugin:
 *
 * - `POST /unsubscribe?t=TOKEN` (what a mailbox provider sends, body `List-Unsubscribe=One-Click`,
 *   and what the confirmation page's button sends): a valid token suppresses its recipient for its
 *   sender (see suppress/unsubscriber.ts); anything else is 404 and changes nothing.
 * - `GET /unsubscribe?t=TOKEN`: a plain page with a button that POSTs. It changes nothing: link
 *   scanners and previews fetch GETs.
 *
 * The token rides in the query string, not the path: a path parameter is capped (fastify's
 * maxParamLength, 100 by default) below a token's length.
 */
export interface UnsubscribeRoutesOptions {
  unsubscriber: Unsubscriber;
}

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>\n<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`;
}

const NOT_VALID = page('Link not valid', '<p>This unsubscribe link is not valid. Nothing was changed.</p>');

export async function unsubscribeRoutes(app: FastifyInstance, opts: UnsubscribeRoutesOptions): Promise<void> {
  // The body carries nothing the endpoint needs (the token is in the URL): read it as text, capped.
  for (const type of FORM_TYPES) {
    if (!app.hasContentTypeParser(type)) app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => done(null, body));
  }

  const tokenOf = (query: unknown): string => {
    const t = (query as { t?: unknown } | null)?.t;
    return typeof t === 'string' ? t : '';
  };

  app.get('/unsubscribe', async (req, reply) => {
    const token = tokenOf(req.query);
    const claim = opts.unsubscriber.check(token);
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8');
    if (!claim) return reply.code(404).send(NOT_VALID);
    const action = `?t=${encodeURIComponent(token)}`;
    return reply.send(
      page(
        'Unsubscribe',
        `<p>Stop mail from this sender to <strong>${escapeHtml(claim.recipient)}</strong>?</p>\n` +
          `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
      ),
    );
  });

  app.post('/unsubscribe', async (req, reply) => {
    const result = await opts.unsubscriber.unsubscribe(tokenOf(req.query), 'https');
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8');
    if (!result.ok) return reply.code(404).send(NOT_VALID);
    return reply.send(page('Unsubscribed', `<p><strong>${escapeHtml(result.claim.recipient)}</strong> will get no more mail from this sender.</p>`));
  });
}

/** The endpoint on a small fastify server of its own, bound to unsubscribe.listen. */
export function createUnsubscribeEndpoint(listen: string, unsubscriber: Unsubscriber): HttpEndpoint {
  const app = Fastify({ logger: false });
  return {
    async start() {
      const { host, port } = splitHostPort(listen);
      await app.register(unsubscribeRoutes, { unsubscriber });
      try {
        await app.listen({ host, port });
      } catch (err) {
        throw new FerryError('FERRY_ERR_CONFIG', `cannot listen on ${listen}: ${errorMessage(err)}`, { cause: err });
      }
      const a = app.server.address();
      return typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : listen;
    },
    async stop() {
      await app.close();
    },
  };
}
