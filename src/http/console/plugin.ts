import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { FerryError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import type { RecipientHit } from '../../core/console-store.js';
import type { LimitFields, QueueSelector } from '../../core/store-types.js';
import { csvHeader, csvLine } from '../../suppress/csv.js';
import { SUPPRESSION_CATEGORIES, suppressionKey } from '../../suppress/normalize.js';
import { parseTarget } from '../../throttle/limits.js';
import type { HttpPlugin } from '../server.js';
import { may, type Actor, type ConsoleActions, type Permission } from './actions.js';
import { PATTERN_DEFS } from './charts.js';
import { createSessions, SESSION_COOKIE } from './sessions.js';
import { CONSOLE_CSS, CONSOLE_JS, createViews } from './views.js';
import { HOUR_MS, trafficCharts } from './traffic.js';
import { plainCategory, plainStatus, plainSuppression } from './words.js';

export interface ConsoleDeps {
  /** Every read the pages make, through the Store (on SQLite: the read connection, never the writer). */
  store: {
    admins: Pick<Store['admins'], 'get'>;
    recipients: Pick<Store['recipients'], 'search'>;
    suppressions: Pick<Store['suppressions'], 'forAddress' | 'get' | 'lookup' | 'byId' | 'browse' | 'page'>;
    stats: Pick<Store['stats'], 'hourly' | 'topDomains' | 'hourlyCategories'>;
    limits: Pick<Store['limits'], 'list' | 'slowed'>;
    queueAdmin: Pick<Store['queueAdmin'], 'destinations'>;
  };
  actions: ConsoleActions;
  clock: Clock;
  logger: Logger;
  /** The retry window (delivery.maxAgeHours), read per request so a reload shows. */
  maxAgeHours: () => number;
  /** Destination budgets at their rate limit right now (the running throttle). */
  heldBack?: () => number;
  /** The largest CSV file an import takes. */
  maxImportBytes?: number;
}

const FLASH_COOKIE = 'ferry_flash';
const PAGE_SIZE = 50;
const PUBLIC = new Set(['/login', '/console.css', '/console.js']);
const COOKIE_OPTS = { path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto' } as const;

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

type Body = Record<string, string | undefined>;

/** "2026-12-06 19:54 UTC": one zone for everyone reading the same page. */
export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The web console for support staff and admins: a fastify plugin for the operator's HTTP server.
 * Cookies, form bodies, CSRF tokens and uploads come from fastify's own plugins; pages from Eta
 * templates with escaping on. Every route but /login needs a session; every POST a CSRF token.
 */
export function createConsolePlugin(deps: ConsoleDeps): HttpPlugin {
  const views = createViews();
  const sessions = createSessions({ admins: deps.store.admins, clock: deps.clock });

  return async function consolePlugin(app: FastifyInstance) {
    await app.register(fastifyCookie);
    await app.register(fastifyFormbody);
    await app.register(fastifyMultipart, { limits: { files: 1, fields: 5, fileSize: deps.maxImportBytes ?? 512 * 1024 * 1024 } });
    await app.register(fastifyCsrf, {
      sessionPlugin: '@fastify/cookie',
      cookieOpts: COOKIE_OPTS,
      // The CSV upload is streamed, not parsed into a body: its token travels in the query.
      getToken: (req: FastifyRequest) =>
        (req.body as Body | undefined)?._csrf ?? (req.query as Body | undefined)?._csrf ?? (req.headers['x-csrf-token'] as string | undefined),
    });

    app.decorateRequest('actor', null);
    app.addHook('onRequest', async (req, reply) => {
      reply.header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      const path = req.url.split('?')[0]!;
      if (PUBLIC.has(path)) return;
      req.actor = await sessions.resolve(req.cookies[SESSION_COOKIE]);
      if (!req.actor) {
        if (req.method === 'GET' || req.method === 'HEAD') return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
        return reply.code(401).type('text/html; charset=utf-8').send(page(reply, 'error', { title: 'Logged out', heading: 'Logged out', message: 'Your session has ended: log in again.' }, null, ''));
      }
    });

    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      let message = err.message;
      if (err.code === 'FST_CSRF_INVALID_TOKEN' || err.code === 'FST_CSRF_MISSING_SECRET') {
        status = 403;
        message = 'This form was not sent from a page of this console, or it has expired (no valid CSRF token): reload the page and try again.';
      } else if (err instanceof FerryError) {
        status = err.code === 'FERRY_ERR_NOT_FOUND' ? 404 : 400;
      } else if (status === 500) {
        deps.logger.error({ err, url: req.url }, 'console: request failed');
        message = 'Something went wrong on the server; the log has the details.';
      }
      void reply.code(status).type('text/html; charset=utf-8').send(page(reply, 'error', { title: 'Error', heading: status === 403 ? 'Refused' : 'Could not do that', message }, req.actor, ''));
    });

    function page(reply: FastifyReply, name: string, data: Record<string, unknown>, me: Actor | null, pageName: string): string {
      let csrf = '';
      try {
        csrf = reply.generateCsrf();
      } catch {
        // no cookie support on an error path: the page still renders
      }
      const flash = reply.request.cookies?.[FLASH_COOKIE];
      if (flash) reply.clearCookie(FLASH_COOKIE, { path: '/' });
      return views.render(`@${name}`, { ...data, me, csrf, flash, page: pageName, fmt: fmtTime });
    }

    function html(reply: FastifyReply, body: string) {
      return reply.type('text/html; charset=utf-8').send(body);
    }

    function need(req: FastifyRequest, what: Permission): Actor {
      const actor = req.actor!;
      if (!may(actor.role, what)) {
        const err = new Error(`Your account (${actor.name}, ${actor.role}) may not do this: it needs the admin role.`) as Error & { statusCode: number };
        err.statusCode = 403;
        throw err;
      }
      return actor;
    }

    /** After a change: back where the form came from (a local path only), with a one-line notice. */
    function done(reply: FastifyReply, notice: string, back: string | undefined, fallback: string) {
      const to = back && back.startsWith('/') && !back.startsWith('//') ? back : fallback;
      reply.setCookie(FLASH_COOKIE, notice.slice(0, 300), { ...COOKIE_OPTS, maxAge: 60 });
      return reply.redirect(to, 303);
    }

    app.get('/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_CSS));
    app.get('/console.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_JS));

    app.get('/login', async (req, reply) => html(reply, page(reply, 'login', { title: 'Log in', error: null, next: (req.query as Body).next ?? '' }, null, 'login')));
    app.post('/login', { preHandler: app.csrfProtection }, async (req, reply) => {
      const body = (req.body ?? {}) as Body;
      const username = (body.username ?? '').trim();
      const result = await sessions.login(username, body.password ?? '', req.ip);
      if (!result.ok) {
        deps.logger.warn({ username, ip: req.ip, locked: result.locked }, 'console: login failed');
        const error = result.locked ? 'Too many failed logins: wait 15 minutes and try again.' : 'Wrong username or password.';
        return html(reply.code(result.locked ? 429 : 401), page(reply, 'login', { title: 'Log in', error, username, next: (req.query as Body).next ?? '' }, null, 'login'));
      }
      deps.logger.info({ admin: result.name, role: result.role, ip: req.ip }, 'console: logged in');
      reply.setCookie(SESSION_COOKIE, result.token, COOKIE_OPTS);
      const next = (req.query as Body).next;
      return reply.redirect(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', 303);
    });
    app.post('/logout', { preHandler: app.csrfProtection }, async (req, reply) => {
      sessions.logout(req.cookies[SESSION_COOKIE]);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.redirect('/login', 303);
    });

    // Dashboard: the rollup table, at most 720 rows per series.
    app.get('/', async (req, reply) => {
      const q = req.query as Body;
      const domain = (q.domain ?? '').trim().toLowerCase() || '*';
      const nowHour = Math.floor(deps.clock.now() / HOUR_MS);
      const { stats } = deps.store;
      const { hourCharts, dayCharts } = await trafficCharts((fromHour, toHour) => stats.hourly(domain, fromHour, toHour), nowHour);
      const me = req.actor!;
      return html(
        reply,
        page(reply, 'dashboard', {
          title: 'Dashboard',
          domain,
          patternDefs: PATTERN_DEFS,
          hourCharts,
          dayCharts,
          domains: await stats.topDomains(nowHour - 23, 15),
          categories: (await stats.hourlyCategories(nowHour - 23, 10)).map((c) => ({ ...c, what: plainCategory(c.category)?.what ?? '' })),
          slowed: await deps.store.limits.slowed(),
          heldBack: deps.heldBack?.() ?? 0,
        }, me, 'dashboard'),
      );
    });

    app.get('/search', async (req, reply) => {
      const q = ((req.query as Body).q ?? '').trim().slice(0, 500);
      const me = req.actor!;
      const maxAge = deps.maxAgeHours();
      const search = deps.store.recipients.search;
      const describe = (h: RecipientHit) => ({
        ...h,
        words: plainStatus({ status: h.status, complainedAt: h.complainedAt, createdAt: h.acceptedAt, category: h.category }, maxAge),
        cat: h.complainedAt !== null ? plainCategory('complaint') : h.status === 'delivered' ? null : plainCategory(h.category),
      });
      let asRecipient: ReturnType<typeof describe>[] = [];
      let asSender: ReturnType<typeof describe>[] = [];
      let asMessage: ReturnType<typeof describe>[] = [];
      let entries: unknown[] = [];
      if (q) {
        const key = !q.startsWith('<') ? suppressionKey(q) : null;
        if (key && !key.isDomain) {
          asRecipient = (await search({ recipient: q }, 50)).map(describe);
          if (asRecipient.length === 0 && key.address !== q) asRecipient = (await search({ recipient: key.address }, 50)).map(describe);
          asSender = (await search({ sender: q }, 20)).map(describe);
          const own = await deps.store.suppressions.forAddress(key.address);
          const found = own.length ? null : await deps.store.suppressions.lookup(key.address, key.domain, null, deps.clock.now());
          const effective = own.length ? own : found ? [found] : [];
          entries = effective.map((e) => ({ ...e, words: plainSuppression(e.category) }));
        } else if (key?.isDomain) {
          entries = (await deps.store.suppressions.forAddress(key.address)).map((e) => ({ ...e, words: plainSuppression(e.category) }));
        } else {
          asMessage = (await search({ message: q }, 20)).map(describe);
        }
      }
      return html(reply, page(reply, 'search', { title: q ? `Search: ${q}` : 'Search', q, asRecipient, asSender, asMessage, entries, back: req.url }, me, 'search'));
    });

    app.get('/suppressions', async (req, reply) => {
      const query = req.query as Body;
      const q = (query.q ?? '').trim().slice(0, 320);
      const me = req.actor!;
      const result = await deps.store.suppressions.browse(q, query.after, PAGE_SIZE);
      return html(
        reply,
        page(reply, 'suppressions', { title: 'Suppressions', q, rows: result.rows, next: result.next, isAdmin: me.role === 'admin', categories: SUPPRESSION_CATEGORIES, back: req.url }, me, 'suppressions'),
      );
    });

    app.post('/suppressions/remove', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'removeSuppression');
      const body = req.body as Body;
      const id = Number(body.id);
      if (!Number.isSafeInteger(id)) throw new FerryError('FERRY_ERR_USAGE', 'which entry? (no id)');
      const entry = await deps.actions.removeSuppression(actor, id);
      deps.logger.info({ admin: actor.name, address: entry.address, scope: entry.scope }, 'console: suppression removed');
      return done(reply, `Removed ${entry.address} from the suppression list: mail to it is sent again.`, body.back, '/suppressions');
    });

    app.post('/suppressions/add', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'addSuppression');
      const body = req.body as Body;
      const days = (body.expiresDays ?? '').trim();
      if (days !== '' && !(/^\d+$/.test(days) && Number(days) > 0)) throw new FerryError('FERRY_ERR_USAGE', 'Expires: a whole number of days, or empty for never.');
      const expiresAt = days === '' ? null : deps.clock.now() + Number(days) * 86_400_000;
      const { entry, created } = await deps.actions.addSuppression(actor, (body.address ?? '').trim(), body.category || 'manual', (body.reason ?? '').trim() || 'added by an admin', expiresAt);
      return done(reply, `${created ? 'Added' : 'Updated'} ${entry.address} on the suppression list.`, undefined, `/suppressions?q=${encodeURIComponent(entry.address)}`);
    });

    app.post('/suppressions/clear', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'clearSuppressions');
      const body = req.body as Body;
      const domainText = (body.domain ?? '').trim();
      const domain = domainText ? suppressionKey(`@${domainText.replace(/^@/, '')}`)?.domain : undefined;
      if (domainText && !domain) throw new FerryError('FERRY_ERR_USAGE', `${domainText} is not a domain name`);
      const category = body.category || undefined;
      const n = await deps.actions.clearSuppressions(actor, { domain, category });
      return done(reply, `Removed ${n} entries from the suppression list.`, undefined, '/suppressions');
    });

    app.post('/suppressions/import', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'importSuppressions');
      const file = await req.file();
      if (!file) throw new FerryError('FERRY_ERR_USAGE', 'Choose a CSV file to import.');
      const report = await deps.actions.importSuppressions(actor, file.file);
      if (file.file.truncated) throw new FerryError('FERRY_ERR_USAGE', 'The file is larger than an import takes; nothing was imported from its end.');
      deps.logger.info({ admin: actor.name, imported: report.imported, skipped: report.skipped }, 'console: suppressions imported');
      return html(reply, page(reply, 'importResult', { title: 'Import finished', r: report }, actor, 'suppressions'));
    });

    app.get('/suppressions/export.csv', async (req, reply) => {
      need(req, 'view');
      reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="ferry-suppressions.csv"');
      const entries = deps.store.suppressions;
      // Pages of 5,000 by id: the database is free between pages, so the relay never waits on an export.
      async function* rows() {
        yield csvHeader();
        let after = 0;
        for (;;) {
          const page = await entries.page(after, 5000);
          if (page.length === 0) return;
          after = page[page.length - 1]!.id;
          yield page.map(csvLine).join('');
          await new Promise((r) => setImmediate(r));
        }
      }
      return reply.send(Readable.from(rows()));
    });

    app.get('/queue', async (req, reply) => {
      const me = req.actor!;
      const domain = ((req.query as Body).domain ?? '').trim().toLowerCase();
      if (domain) {
        return html(reply, page(reply, 'queue', { title: `Queue: ${domain}`, domain, pending: await deps.store.recipients.search({ pendingDomain: domain }, 200), isAdmin: me.role === 'admin', back: req.url }, me, 'queue'));
      }
      const { rows, more } = await deps.store.queueAdmin.destinations(deps.clock.now(), 200);
      return html(reply, page(reply, 'queue', { title: 'Queue', domain: '', rows, more, isAdmin: me.role === 'admin', back: req.url }, me, 'queue'));
    });

    function selector(body: Body): QueueSelector {
      if (body.message) return { messageId: body.message };
      if (body.domain && /^[A-Za-z0-9_.-]+$/.test(body.domain)) return { domain: body.domain.toLowerCase() };
      throw new FerryError('FERRY_ERR_USAGE', 'Say which message or destination.');
    }

    app.post('/queue/retry', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'retry');
      const body = req.body as Body;
      const n = await deps.actions.retry(actor, selector(body));
      return done(reply, `${n} recipient${n === 1 ? '' : 's'} will be tried again now.`, body.back, '/queue');
    });

    app.post('/queue/purge', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'purge');
      const body = req.body as Body;
      const sel = selector(body);
      const res = await deps.actions.purge(actor, sel);
      deps.logger.warn({ admin: actor.name, ...sel, purged: res.purged }, 'console: queue purged');
      return done(reply, `${res.purged} recipient${res.purged === 1 ? '' : 's'} purged; their senders are told.`, body.back, '/queue');
    });

    app.get('/limits', async (req, reply) => {
      const me = req.actor!;
      return html(reply, page(reply, 'limits', { title: 'Limits', rules: await deps.store.limits.list(), slowed: await deps.store.limits.slowed(), isAdmin: me.role === 'admin' }, me, 'limits'));
    });

    app.post('/limits', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'editLimits');
      const body = req.body as Body;
      const target = parseTarget(body.target ?? '');
      const field = (name: keyof LimitFields, label: string): number | null => {
        const v = (body[name] ?? '').trim();
        if (v === '') return null;
        if (!/^\d+$/.test(v) || Number(v) <= 0) throw new FerryError('FERRY_ERR_USAGE', `${label}: a positive whole number, or empty to inherit.`);
        return Number(v);
      };
      const fields: LimitFields = {
        perMinute: field('perMinute', 'Per minute'),
        perHour: field('perHour', 'Per hour'),
        perDay: field('perDay', 'Per day'),
        connections: field('connections', 'Connections'),
        perConnection: field('perConnection', 'Per connection'),
      };
      await deps.actions.setLimit(actor, target, fields);
      return done(reply, `Limit for ${target} saved; the relay applies it now.`, undefined, '/limits');
    });

    app.post('/limits/remove', { preHandler: app.csrfProtection }, async (req, reply) => {
      const actor = need(req, 'editLimits');
      const target = parseTarget((req.body as Body).target ?? '');
      if (!(await deps.actions.removeLimit(actor, target))) throw new FerryError('FERRY_ERR_NOT_FOUND', `No limit for ${target}.`);
      return done(reply, `Limit for ${target} removed.`, undefined, '/limits');
    });
  };
}
