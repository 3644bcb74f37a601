import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import { buildRequest, toWebhookEvent, type WebhookEvent } from './webhook-payload.js';

/**
 * The webhook sender: one loop per configured URL that reads the event log after the URL's
 * cursor, POSTs the next batch, and moves the cursor only after a 2xx. A failure (non-2xx,
 * network error, timeout) keeps the cursor and retries the same batch after an exponential
 * backoff; nothing later is sent before it, so each URL sees events strictly in id order —
 * in particular in order per message. The cursor lives in the store: a restart resumes where the
 * last acknowledged batch ended (a batch in flight at a crash is sent again: at least once). Each
 * URL's loop sends only while it holds the URL's lease (webhooks.lease): with many nodes on one
 * store, exactly one sends to a URL at a time, and another takes over once a dead holder's lease
 * runs out.
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
  /** The cursors and leases, the event log, and the messages (for their Message-ID header and ENVID). */
  store: {
    webhooks: Store['webhooks'];
    events: Pick<Store['events'], 'settledAfter' | 'lastId'>;
    messages: Pick<Store['messages'], 'getSummary'>;
  };
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
  prepare(): Promise<void>;
  /** Starts the loops (once the cursors exist). */
  start(): Promise<void>;
  /** New events were recorded: idle loops look now rather than at the next poll. */
  poke(): void;
  /**
   * Stops the loops. A POST in flight gets up to `graceMs` to be answered (a 2xx then moves the
   * cursor, so the receiver is not sent that batch again after a restart); past that it is
   * aborted and its batch is sent again after restart.
   */
  stop(graceMs?: number): Promise<void>;
  /**
   * Per URL: last acknowledged event, consecutive failures (for `ferry status`, metrics), as this
   * node last read or wrote the cursor.
   */
  state(): { url: string; lastEventId: number; failures: number; lastError: string | null }[];
}

/** Backoff after `failures` consecutive failures: initial · 2^(failures-1), capped. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

export function createWebhookSender(deps: WebhookSenderDeps): WebhookSender {
  const { config, clock, logger } = deps;
  const repo = deps.store.webhooks;
  /** What state() reports: each cursor as last read or written here. */
  const known = new Map<string, { lastEventId: number; failures: number; lastError: string | null }>();
  const remember = (url: string, c: { lastEventId: number; failures: number; lastError: string | null } | undefined): void => {
    if (c) known.set(url, { lastEventId: c.lastEventId, failures: c.failures, lastError: c.lastError });
  };
  const doFetch = deps.fetch ?? fetch;
  /** Wakes every sleeper at stop. */
  const abort = new AbortController();
  /** Cuts POSTs in flight once the stop grace has run out. */
  const abortPosts = new AbortController();
  const loops: Promise<void>[] = [];
  /** Idle sleepers that poke() may wake. */
  const idle = new Set<() => void>();
  let stopped = false;

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

  async function batchFor(afterId: number): Promise<WebhookEvent[]> {
    const rows = await deps.store.events.settledAfter(afterId, config.batchSize);
    const headerOf = new Map<string, { messageIdHeader: string | null; envid: string | null }>();
    const out: WebhookEvent[] = [];
    for (const e of rows) {
      if (!headerOf.has(e.messageId)) {
        const m = await deps.store.messages.getSummary(e.messageId);
        headerOf.set(e.messageId, { messageIdHeader: m?.messageIdHeader ?? null, envid: m?.dsnEnvid ?? null });
      }
      const m = headerOf.get(e.messageId)!;
      out.push(toWebhookEvent(e, m.messageIdHeader, m.envid));
    }
    return out;
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
    let failures = (await repo.get(url))?.failures ?? 0;
    while (!stopped) {
      const now = clock.now();
      if (!(await repo.lease(url, deps.owner, now, now + leaseMs))) {
        // Another node sends to this URL: follow its cursor for state().
        remember(url, await repo.get(url));
        await sleep(config.pollIntervalMs, false);
        continue;
      }
      const cursor = await repo.get(url);
      if (!cursor) return;
      remember(url, cursor);
      const events = await batchFor(cursor.lastEventId);
      if (events.length === 0) {
        await sleep(config.pollIntervalMs, true);
        continue;
      }
      const first = events[0]!.id;
      const last = events[events.length - 1]!.id;
      const problem = await post(url, events);
      if (problem === null) {
        // Even when stopping: the receiver has these events, so the cursor must say so.
        await repo.advance(url, last, clock.now());
        known.set(url, { lastEventId: last, failures: 0, lastError: null });
        if (failures > 0) logger.info({ url, after: failures }, 'webhook delivered again after failures');
        failures = 0;
        logger.debug({ url, events: events.length, first, last }, 'webhook batch delivered');
        continue;
      }
      if (stopped) return;
      failures++;
      await repo.fail(url, problem, clock.now());
      known.set(url, { lastEventId: cursor.lastEventId, failures, lastError: problem });
      const wait = backoffMs(failures, config.retryInitialMs, config.retryMaxMs);
      logger.warn({ url, events: events.length, first, last, failures, retryInMs: wait, error: problem }, 'webhook POST failed: will retry the same batch');
      await sleep(wait, false);
    }
  }

  let preparing: Promise<void> | null = null;
  async function prepareNow(): Promise<void> {
    const now = clock.now();
    const end = await deps.store.events.lastId();
    for (const url of config.urls) {
      const existing = await repo.get(url);
      if (existing) {
        remember(url, existing);
        continue;
      }
      remember(url, await repo.ensure(url, end, now));
      logger.info({ url, afterEventId: end }, 'webhook: new URL, sending the events recorded from now on');
    }
  }
  function prepare(): Promise<void> {
    preparing ??= prepareNow();
    return preparing;
  }

  return {
    prepare,
    async start() {
      await prepare();
      if (loops.length > 0 || stopped) return;
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
      for (const url of config.urls) await repo.release(url, deps.owner);
    },
    state() {
      return config.urls.map((url) => {
        const c = known.get(url);
        return { url, lastEventId: c?.lastEventId ?? 0, failures: c?.failures ?? 0, lastError: c?.lastError ?? null };
      });
    },
  };
}
