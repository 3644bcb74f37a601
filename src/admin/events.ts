import type { Command } from 'commander';
import { setTimeout as delay } from 'node:timers/promises';
import { FerryError } from '../core/errors.js';
import { CONSOLE_EVENT_TYPES, RECIPIENT_STATUSES } from '../core/types.js';
import { MORE_COUNT_CAP, type EventRow } from '../core/store-types.js';
import { toWebhookEvent, type WebhookEvent } from '../workers/webhook-payload.js';
import type { CliContext, CliStore } from './context.js';
import { isoTime, json, moreLine, parsePositiveInt, parseSince, table } from './format.js';

/**
 * `ferry events list` and `ferry events tail`: the event log (every status change of every
 * recipient, complaints, ...), in the same shape webhooks receive.
 */

function describe(store: { messages: Pick<CliStore['messages'], 'getSummary'> }) {
  const cache = new Map<string, { header: string | null; envid: string | null }>();
  return async (e: EventRow): Promise<WebhookEvent> => {
    if (!cache.has(e.messageId)) {
      if (cache.size > 10_000) cache.clear();
      const m = await store.messages.getSummary(e.messageId);
      cache.set(e.messageId, { header: m?.messageIdHeader ?? null, envid: m?.dsnEnvid ?? null });
    }
    const m = cache.get(e.messageId);
    return toWebhookEvent(e, m?.header ?? null, m?.envid ?? null);
  };
}

function line(e: WebhookEvent): string {
  const parts = [isoTime(Date.parse(e.timestamp)), e.event.padEnd(9), e.queue_id, e.recipient ?? '-'];
  if (e.category) parts.push(e.category);
  if (e.reply) parts.push(e.reply.length > 200 ? `${e.reply.slice(0, 197)}...` : e.reply);
  return `${parts.join('  ')}\n`;
}

export interface TailOptions {
  store: { events: Pick<CliStore['events'], 'lastId' | 'settledAfter'>; messages: Pick<CliStore['messages'], 'getSummary'> };
  /**
   * Waits between polls; resolves early (or rejects) when the signal aborts. Default: a timer
   * that keeps the process alive (the clock's timers are unref'd, which would let the CLI exit).
   */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Start after this event id (default: the newest, i.e. only events recorded from now on). */
  afterId?: number;
  type?: string;
  intervalMs: number;
  /** Stop after this many events. */
  maxEvents?: number;
  signal: AbortSignal;
  onEvent: (e: WebhookEvent) => void;
}

/** Follows the event log by polling the store until the signal aborts (or maxEvents). Resolves with the count. */
export async function tailEvents(o: TailOptions): Promise<number> {
  const events = o.store.events;
  const toEvent = describe(o.store);
  const wait = o.wait ?? ((ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }));
  let after = o.afterId ?? (await events.lastId());
  let n = 0;
  while (!o.signal.aborted) {
    // settledAfter: on PostgreSQL an event committed late under a lower id is not skipped.
    const rows = await events.settledAfter(after, 500);
    for (const r of rows) {
      after = r.id;
      if (o.type && r.type !== o.type) continue;
      o.onEvent(await toEvent(r));
      n++;
      if (o.maxEvents !== undefined && n >= o.maxEvents) return n;
    }
    if (rows.length === 500) continue;
    await wait(o.intervalMs, o.signal).catch(() => undefined);
  }
  return n;
}

export function registerEventsCommands(program: Command, ctx: CliContext): void {
  const group = program.command('events').description('the event log: every status change of every recipient');

  group
    .command('list')
    .description('list events, newest first')
    .option('--since <when>', 'only events since (1h, 7d, or a date)')
    .option('--type <type>', `only this event type (${EVENT_TYPES.join(', ')})`)
    .option('--message <id>', 'only events of this message (queue id)')
    .option('--after-id <id>', 'only events after this event id')
    .option('--before <id>', 'only events before this event id (the next page: the last id shown)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'machine-readable output (the webhook shape)')
    .action(async (opts: { since?: string; type?: string; message?: string; afterId?: string; before?: string; limit: string; json?: boolean }) => {
      const filter = {
        since: opts.since ? parseSince(opts.since, '--since', ctx.clock.now()) : undefined,
        type: opts.type !== undefined ? eventType(opts.type) : undefined,
        messageId: opts.message,
        afterId: opts.afterId !== undefined ? parseNonNegative(opts.afterId, '--after-id') : undefined,
        beforeId: opts.before !== undefined ? parseNonNegative(opts.before, '--before') : undefined,
      };
      const limit = parsePositiveInt(opts.limit, '--limit');
      const store = await ctx.store();
      const rows = await store.events.list({ ...filter, limit, order: 'desc' });
      const more = rows.length === limit ? await store.events.count({ ...filter, beforeId: rows[rows.length - 1]!.id }) : 0;
      const note = more > 0 ? moreLine(more, rows[rows.length - 1]!.id, MORE_COUNT_CAP) : '';
      const toEvent = describe(store);
      const events: WebhookEvent[] = [];
      for (const r of rows) events.push(await toEvent(r));
      if (opts.json) {
        ctx.io.stdout.write(json(events));
        // stdout stays one JSON document; the note is for the person running it.
        if (note) ctx.io.stderr.write(note);
        return;
      }
      if (events.length === 0) {
        ctx.io.stdout.write('no events match\n');
        return;
      }
      ctx.io.stdout.write(
        table(
          ['id', 'time', 'event', 'queue id', 'recipient', 'category', 'reply'],
          events.map((e) => [e.id, isoTime(Date.parse(e.timestamp)), e.event, e.queue_id, e.recipient, e.category, e.reply]),
          ctx.io.columns,
        ),
      );
      ctx.io.stdout.write(note);
    });

  group
    .command('tail')
    .description('follow new events as they are recorded, until interrupted (Ctrl-C)')
    .option('--type <type>', `only this event type (${EVENT_TYPES.join(', ')})`)
    .option('--since <when>', 'start with the events since (1h, 7d, or a date) instead of only new ones')
    .option('--json', 'one JSON object per line (the webhook shape)')
    .option('--interval-ms <ms>', 'how often to look for new events', '500')
    .option('--max-events <n>', 'stop after this many events')
    .action(async (opts: { type?: string; since?: string; json?: boolean; intervalMs: string; maxEvents?: string }) => {
      const store = await ctx.store();
      let afterId: number | undefined;
      if (opts.since) {
        const since = parseSince(opts.since, '--since', ctx.clock.now());
        const first = (await store.events.list({ since, limit: 1 }))[0];
        afterId = first ? first.id - 1 : undefined;
      }
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        await tailEvents({
          store,
          afterId,
          type: opts.type !== undefined ? eventType(opts.type) : undefined,
          intervalMs: parsePositiveInt(opts.intervalMs, '--interval-ms'),
          maxEvents: opts.maxEvents !== undefined ? parsePositiveInt(opts.maxEvents, '--max-events') : undefined,
          signal: controller.signal,
          onEvent: (e) => ctx.io.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : line(e)),
        });
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}

/** What the event log records: a recipient's statuses, and complaints reported after delivery. */
export const EVENT_TYPES = [...RECIPIENT_STATUSES, 'complaint', 'unsubscribed', ...CONSOLE_EVENT_TYPES] as const;

function eventType(value: string): string {
  if (!(EVENT_TYPES as readonly string[]).includes(value)) {
    throw new FerryError('FERRY_ERR_USAGE', `--type ${JSON.stringify(value)}: expected one of ${EVENT_TYPES.join(', ')}`);
  }
  return value;
}

function parseNonNegative(value: string, option: string): number {
  if (!/^\d+$/.test(value)) throw new FerryError('FERRY_ERR_USAGE', `${option} ${JSON.stringify(value)}: expected a whole number`);
  return Number(value);
}
