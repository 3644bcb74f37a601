import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EventsRepo } from '../store/events-repo.js';
import type { MessagesRepo } from '../store/messages-repo.js';
import type { WebhooksRepo } from '../store/webhooks-repo.js';
import { buildRequest, toWebhookEvent, type WebhookEvent } from './webhook-payload.js';

/**
 * The webhook sender: one loop per configured URL that reads the event log after the URL's
 * cursor, POSTs the next batch, and moves the cursor only after a 2xx. A failure (non-2xx,
 * network error, timeout) keeps the cursor and retries the same batch after an exponential
 * backoff; nothing later is sent before it, so each URL sees events strictly in id order —
 * in particular in order per message. The cursor lives in SQLite: a restart resumes where the
 * last acknowledged batch ended (a batch in flight at a crash is sent again: at least once).
 */
export interface WebhookSenderConfig {
  urls: readonly string[];
  secret: string;
  batchSize: number;
  timeoutMs: number;
  pollIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

export interface WebhookSenderDeps {
  config: WebhookSenderConfig;
  repo: WebhooksRepo;
  events: EventsRepo;
  messages: Pick<MessagesRepo, 'getSummary'>;
  clock: Clock;
  logger: Logger;
  /** This node's name on the cursor lease. */
  owner: string;
  userAgent: string;
  /** node's global fetch unless given. */
  fetch?: typeof fetch;
}

export interface WebhookSender {
  /**
   * Creates missing cursors: a new URL starts at the end of the log. Call before anything can
   * record events (start() does it too, for URLs not yet prepared).
   */
  prepare(): void;
  /** Starts the loops. */
  start(): void;
  /** New events were recorded: idle loops look now rather than at the next poll. */
  poke(): void;
  /**
   * Stops the loops. A POST in flight gets up to `graceMs` to be answered (a 2xx then moves the
   * cursor, so the receiver is not sent that batch again after a restart); past that it is
   * aborted and its batch is sent again after restart.
   */
  stop(graceMs?: number): Promise<void>;
  /** Per URL: last acknowledged event, consecutive failures (for `ferry status`, metrics). */
  state(): { url: string; lastEventId: number; failures: number; lastError: string | null }[];
}

/** Backoff after `failures` consecutive failures: initial · 2^(failures-1), capped. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

export function createWebhookSender(deps: WebhookSenderDeps): WebhookSender {
  const { config, repo, clock, logger } = deps;
  const doFetch = deps.fetch ?? fetch;
  /** Wakes every sleeper at stop. */
  const abort = new AbortController();
  /** Cuts POSTs in flight once the stop grace has run out. */
  const abortPosts = new AbortController();
  const loops: Promise<void>[] = [];
  /** Idle sleepers that poke() may wake. */
  const idle = new Set<() => void>();
  let stopped = false;
  let prepared = false;

  function sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | null = null;
      const done = (): void => {
        timer?.cancel();
        idle.delete(done);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      timer = clock.setTimer(ms, done);
      if (wakeable) idle.add(done);
      abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  function batchFor(afterId: number): WebhookEvent[] {
    const rows = deps.events.list({ afterId, limit: config.batchSize });
    const headerOf = new Map<string, { messageIdHeader: string | null; envid: string | null }>();
    return rows.map((e) => {
      if (!headerOf.has(e.messageId)) {
        const m = deps.messages.getSummary(e.messageId);
        headerOf.set(e.messageId, { messageIdHeader: m?.messageIdHeader ?? null, envid: m?.dsnEnvid ?? null });
      }
      const m = headerOf.get(e.messageId)!;
      return toWebhookEvent(e, m.messageIdHeader, m.envid);
    });
  }

  /** One POST; resolves with null on a 2xx, else with what went wrong. */
  async function post(url: string, events: WebhookEvent[]): Promise<string | null> {
    const { body, headers } = buildRequest(events, config.secret, clock.now(), deps.userAgent);
    const controller = new AbortController();
    const onStop = (): void => controller.abort(abortPosts.signal.reason);
    abortPosts.signal.addEventListener('abort', onStop, { once: true });
    const timer = clock.setTimer(config.timeoutMs, () => controller.abort(new Error(`no answer within ${config.timeoutMs} ms`)));
    try {
      const res = await doFetch(url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
      // Drain the body so the connection can be reused; its content does not matter.
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      return errorMessage(reason);
    } finally {
      timer.cancel();
      abortPosts.signal.removeEventListener('abort', onStop);
    }
  }

  async function run(url: string): Promise<void> {
    const leaseMs = config.timeoutMs + config.pollIntervalMs + 30_000;
    let failures = repo.get(url)?.failures ?? 0;
    while (!stopped) {
      const now = clock.now();
      if (!repo.lease(url, deps.owner, now, now + leaseMs)) {
        await sleep(config.pollIntervalMs, false);
        continue;
      }
      const cursor = repo.get(url);
      if (!cursor) return;
      const events = batchFor(cursor.lastEventId);
      if (events.length === 0) {
        await sleep(config.pollIntervalMs, true);
        continue;
      }
      const first = events[0]!.id;
      const last = events[events.length - 1]!.id;
      const problem = await post(url, events);
      if (problem === null) {
        // Even when stopping: the receiver has these events, so the cursor must say so.
        repo.advance(url, last, clock.now());
        if (failures > 0) logger.info({ url, after: failures }, 'webhook delivered again after failures');
        failures = 0;
        logger.debug({ url, events: events.length, first, last }, 'webhook batch delivered');
        continue;
      }
      if (stopped) return;
      failures++;
      repo.fail(url, problem, clock.now());
      const wait = backoffMs(failures, config.retryInitialMs, config.retryMaxMs);
      logger.warn({ url, events: events.length, first, last, failures, retryInMs: wait, error: problem }, 'webhook POST failed: will retry the same batch');
      await sleep(wait, false);
    }
  }

  function prepare(): void {
    if (prepared) return;
    prepared = true;
    const now = clock.now();
    const end = deps.events.lastId();
    for (const url of config.urls) {
      if (repo.get(url)) continue;
      repo.ensure(url, end, now);
      logger.info({ url, afterEventId: end }, 'webhook: new URL, sending the events recorded from now on');
    }
  }

  return {
    prepare,
    start() {
      prepare();
      if (loops.length > 0) return;
      for (const url of config.urls) {
        loops.push(run(url).catch((err: unknown) => logger.error({ err, url }, 'webhook sender stopped on an error')));
      }
    },
    poke() {
      for (const wake of [...idle]) wake();
    },
    async stop(graceMs = Math.min(config.timeoutMs, 5_000)) {
      if (stopped) return;
      stopped = true;
      abort.abort(new Error('shutting down'));
      const cut = clock.setTimer(graceMs, () => abortPosts.abort(new Error('shutting down')));
      await Promise.all(loops);
      cut.cancel();
      for (const url of config.urls) repo.release(url, deps.owner);
    },
    state() {
      return config.urls.map((url) => {
        const c = repo.get(url);
        return { url, lastEventId: c?.lastEventId ?? 0, failures: c?.failures ?? 0, lastError: c?.lastError ?? null };
      });
    },
  };
}
