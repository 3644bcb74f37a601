import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { PENDING_STATES, type DestinationSummary, type PendingState, type QueueSelector } from '../store/queue-admin-repo.js';
import { RATE_LIMITED, type RecipientRow } from '../store/recipients-repo.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClassifier } from '../classify/classifier.js';
import { createIdGenerator } from '../core/ids.js';
import { silentLogger } from '../core/logger.js';
import { systemRandom } from '../core/random.js';
import { createDsnNotifier } from '../outcome/dsn.js';
import { createFate } from '../outcome/fate.js';
import { purgeInputs, purgeSummary } from '../outcome/purge.js';
import type { MessageRow } from '../store/messages-repo.js';
import type { FatesStore } from '../core/store.js';
import type { CliContext, CliStore } from './context.js';
import { isoTime, json, table, waitingUntil } from './format.js';

export const PURGE_REASON = 'purged by admin';

/**
 * `ferry queue`: what waits for delivery, per destination, and the two levers an admin pulls:
 * retry (due now) and purge (give up, recorded as expired and reported to the sender like an expiry). A running relay notices within its
 * scheduler's idle wake (5 s at most).
 */
export function registerQueueCommands(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description('mail waiting for delivery, per destination domain');

  queue
    .command('list')
    .description('pending recipients per destination: queued, deferred, in flight, oldest message, next attempt')
    .option('--domain <domain>', 'only this destination domain')
    .option('--status <status>', `only recipients in this state (${PENDING_STATES.join(', ')})`)
    .option('--json', 'machine-readable output')
    .action(async (opts: { domain?: string; status?: string; json?: boolean }) => {
      const state = parseState(opts.status);
      const now = ctx.clock.now();
      const rows = await (await ctx.store()).queueAdmin.summary(now, { domain: opts.domain, state });
      if (opts.json) {
        ctx.io.stdout.write(
          json(
            rows.map((r) => ({
              domain: r.domain,
              queued: r.queued,
              deferred: r.deferred,
              inFlight: r.inFlight,
              oldestMessageAt: isoTime(r.oldestCreatedAt),
              nextAttemptAt: r.nextAttemptAt === null ? null : isoTime(r.nextAttemptAt),
              rateLimited: r.rateLimited,
              rateLimitedUntil: r.rateLimitedUntil === null ? null : isoTime(r.rateLimitedUntil),
            })),
          ),
        );
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write(opts.domain || state ? 'nothing waiting matches\n' : 'the queue is empty\n');
        return;
      }
      const total = { queued: 0, deferred: 0, inFlight: 0 };
      for (const r of rows) {
        total.queued += r.queued;
        total.deferred += r.deferred;
        total.inFlight += r.inFlight;
      }
      ctx.io.stdout.write(
        table(
          ['domain', 'queued', 'deferred', 'in flight', 'oldest message', 'next attempt'],
          rows.map((r) => [
            r.domain,
            r.queued,
            r.deferred,
            r.inFlight,
            `${isoTime(r.oldestCreatedAt)} (${ago(now - r.oldestCreatedAt)} ago)`,
            nextCell(r, now),
          ]),
          ctx.io.columns,
        ),
      );
      ctx.io.stdout.write(
        `${rows.length} destination${rows.length === 1 ? '' : 's'}: ${total.queued} queued, ${total.deferred} deferred, ${total.inFlight} in flight\n`,
      );
    });

  queue
    .command('retry [id]')
    .description('make pending recipients due now: one message (ID), a destination (--domain) or everything (--all)')
    .option('--domain <domain>', 'every pending recipient of this destination domain')
    .option('--all', 'every pending recipient')
    .action(async (id: string | undefined, opts: { domain?: string; all?: boolean }) => {
      const sel = selector(id, opts, 'retry');
      const repo = (await ctx.store()).queueAdmin;
      if (sel.messageId !== undefined && !(await repo.messageExists(sel.messageId))) {
        throw new FerryError('FERRY_ERR_NOT_FOUND', `no message with id ${sel.messageId}`);
      }
      const n = await repo.retry(sel, ctx.clock.now());
      ctx.io.stdout.write(`${n} recipient${n === 1 ? '' : 's'} due now${n === 0 ? ' (nothing pending that is not already in flight)' : ''}\n`);
    });

  queue
    .command('purge [id]')
    .description('end pending recipients as expired ("purged by admin"): one message (ID) or a destination (--domain, with --yes)')
    .option('--domain <domain>', 'every pending recipient of this destination domain')
    .option('--yes', 'confirm purging a whole destination')
    .action(async (id: string | undefined, opts: { domain?: string; yes?: boolean }) => {
      const sel = selector(id, { domain: opts.domain }, 'purge');
      if (sel.domain !== undefined && !opts.yes) {
        throw new FerryError('FERRY_ERR_USAGE', `purging every pending recipient of ${sel.domain} cannot be undone: add --yes`);
      }
      const store = await ctx.store();
      const { fates } = store;
      const pending = store.queueAdmin.pending?.bind(store.queueAdmin);
      if (!fates || !pending) {
        throw new FerryError('FERRY_ERR_USAGE', `queue purge is not available on the ${store.engine} store yet (its fate writer is not connected): use queue retry, or purge from a relay on SQLite`);
      }
      if (sel.messageId !== undefined && !(await store.queueAdmin.messageExists(sel.messageId))) {
        throw new FerryError('FERRY_ERR_NOT_FOUND', `no message with id ${sel.messageId}`);
      }
      const res = await purge(ctx, store, fates, await pending(sel), PURGE_REASON);
      ctx.io.stdout.write(`${res.purged} recipient${res.purged === 1 ? '' : 's'} purged (expired: ${PURGE_REASON})\n`);
      if (res.reports > 0) ctx.io.stdout.write(`${res.reports} delivery status notification${res.reports === 1 ? '' : 's'} queued to the senders\n`);
      if (res.inFlight > 0) {
        ctx.io.stdout.write(`${res.inFlight} of them were being delivered at that moment: a transfer already under way may still complete\n`);
      }
    });
}

/**
 * Ends the recipients as their fate (outcome/fate, origin admin-purge): expired, an event each,
 * and — as for any expiry — a report to each sender, queued through the store's DSN outbox (the
 * running relay sends it at its scheduler's next wake).
 */
async function purge(ctx: CliContext, store: CliStore, fates: FatesStore, rows: RecipientRow[], reason: string): Promise<{ purged: number; inFlight: number; reports: number }> {
  const config = ctx.config();
  const now = ctx.clock.now();
  const dsn = config.dsn.enabled
    ? createDsnNotifier({
        store,
        hostname: config.hostname,
        clock: ctx.clock,
        random: systemRandom,
        newId: createIdGenerator(ctx.clock, systemRandom),
        logger: silentLogger(),
        config: config.dsn,
        maxAgeHours: config.delivery.maxAgeHours,
        readFull: (m) => readBody(m, join(config.dataDir, 'spool'), config.dsn.returnFullMaxBytes),
      })
    : null;
  const fate = createFate({
    fates,
    classifier: createClassifier(),
    retry: { retryScheduleMinutes: config.delivery.retryScheduleMinutes, retryJitter: 0, maxAgeHours: config.delivery.maxAgeHours, mailboxFullSuppressAfterHours: config.bounces.mailboxFullSuppressAfterHours },
    clock: ctx.clock,
    random: systemRandom,
    logger: silentLogger(),
    dsn: config.dsn.enabled ? config.dsn : null,
    afterCommit: () => dsn?.due(),
  });
  const results = await fate.record(purgeInputs(rows, reason));
  const reports = (await dsn?.flush())?.length ?? 0;
  return { ...purgeSummary(rows, results, now), reports };
}

/**
 * The whole original message for RET=FULL, or null (too large, unreadable, or a body the store
 * did not return whole: the headers go instead).
 */
function readBody(m: MessageRow, spoolDir: string, maxBytes: number): Buffer | null {
  if (m.size > maxBytes) return null;
  if (!m.spoolFile) return m.body ? Buffer.concat([m.headers, m.body]) : null;
  try {
    return Buffer.concat([m.headers, readFileSync(join(spoolDir, m.spoolFile))]);
  } catch {
    return null;
  }
}

function parseState(value: string | undefined): PendingState | undefined {
  if (value === undefined) return undefined;
  const v = value === 'inflight' || value === 'in_flight' ? 'in-flight' : value;
  if (!(PENDING_STATES as readonly string[]).includes(v)) {
    throw new FerryError('FERRY_ERR_USAGE', `--status ${JSON.stringify(value)}: expected one of ${PENDING_STATES.join(', ')}`);
  }
  return v as PendingState;
}

function selector(id: string | undefined, opts: { domain?: string | undefined; all?: boolean | undefined }, verb: string): QueueSelector {
  const chosen = [id !== undefined, opts.domain !== undefined, Boolean(opts.all)].filter(Boolean).length;
  const forms = verb === 'retry' ? 'a message ID, --domain D or --all' : 'a message ID or --domain D';
  if (chosen !== 1) throw new FerryError('FERRY_ERR_USAGE', `queue ${verb}: give exactly one of ${forms}`);
  if (id !== undefined) return { messageId: id };
  if (opts.domain !== undefined) {
    if (!/^[A-Za-z0-9_.-]+$/.test(opts.domain)) throw new FerryError('FERRY_ERR_USAGE', `--domain ${JSON.stringify(opts.domain)}: expected a domain name`);
    return { domain: opts.domain.toLowerCase() };
  }
  return { all: true };
}

/** When the destination's next try is, and why it waits when its rate budget holds it back. */
function nextCell(r: DestinationSummary, now: number): string {
  const next = r.nextAttemptAt === null ? '' : r.nextAttemptAt <= now ? 'now' : `${isoTime(r.nextAttemptAt)} (in ${ago(r.nextAttemptAt - now)})`;
  if (r.rateLimited === 0 || r.rateLimitedUntil === null) return next;
  return `${next}\n${r.rateLimited} ${waitingUntil(RATE_LIMITED, r.rateLimitedUntil, now)}`;
}

/** 90061000 → "1d 1h"; short, for people. */
function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
