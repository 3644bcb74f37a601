import type { Clock, TimerHandle } from '../core/clock.js';
import { smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MessageCheck } from '../core/message-check.js';
import type { AuthenticatedUser, ParsedAddress, RecipientDecision, RecipientPolicy, SenderPolicy } from '../core/policy.js';
import type { QuotaStore } from '../core/store.js';
import type { QuotaStateRow, UserQuota } from '../core/store-types.js';
import { SlidingWindow, WINDOWS } from './window.js';

/**
 * Per-user intake quotas: messages per hour and recipients per day per SMTP user, over sliding
 * windows (never more than N in any hour / any 24 hours).
 *
 * - Recipients are counted at RCPT, when every other recipient policy has accepted the address
 *   (a suppressed, dropped recipient costs nothing). A recipient of a transaction that is later
 *   abandoned stays counted: the RCPT hook sees one address at a time, and counting at RCPT is the
 *   only way a single message with 10,000 RCPTs cannot overshoot.
 * - Messages are checked at MAIL FROM (a client over quota learns it before sending any data)
 *   and counted at end of DATA, when the message is about to be queued; the end-of-DATA check
 *   also refuses a message that parallel sessions pushed over the quota meanwhile.
 *
 * Exceeding either answers 451 4.7.1 with the quota and when it frees up. Quotas are read from
 * the store per check (a primary-key lookup), so `ferry users quota` applies at once; usage is
 * kept in memory, read from the store once by load() (start() loads first), and written every
 * persistIntervalMs and at stop (a restart keeps the day's count).
 */
export interface QuotaDeps {
  quota: Pick<QuotaStore, 'get' | 'states' | 'saveStates'>;
  clock: Clock;
  logger: Logger;
  persistIntervalMs: number;
}

interface Usage {
  messages: SlidingWindow;
  recipients: SlidingWindow;
}

export interface QuotaUsage {
  messagesLastHour: number;
  recipientsLastDay: number;
}

export function parseQuotaWindows(json: string | null | undefined, now: number): Usage {
  let data: Record<string, unknown> = {};
  try {
    const parsed = json ? (JSON.parse(json) as unknown) : {};
    if (parsed && typeof parsed === 'object') data = parsed as Record<string, unknown>;
  } catch {
    // a damaged row starts empty
  }
  return {
    messages: SlidingWindow.from(WINDOWS.hour, data['messages'], now),
    recipients: SlidingWindow.from(WINDOWS.day, data['recipients'], now),
  };
}

function when(at: number): string {
  return new Date(at).toISOString().replace(/:\d\d\.\d{3}Z$/, 'Z');
}

export function createQuotas(deps: QuotaDeps) {
  const { quota, clock, logger } = deps;
  const usage = new Map<string, Usage>();
  /** Usage saved by an earlier run, not yet needed (read once by load()). */
  const saved = new Map<string, string>();
  const dirty = new Set<string>();
  let timer: TimerHandle | null = null;
  let running = false;
  let loaded: Promise<void> | null = null;
  let saving: Promise<void> = Promise.resolve();

  function load(): Promise<void> {
    loaded ??= quota.states().then((rows) => {
      for (const r of rows) if (!usage.has(r.username)) saved.set(r.username, r.windows);
    });
    return loaded;
  }

  function usageOf(name: string): Usage {
    let u = usage.get(name);
    if (!u) {
      u = parseQuotaWindows(saved.get(name), clock.now());
      saved.delete(name);
      usage.set(name, u);
    }
    return u;
  }

  function quotaOf(name: string): Promise<UserQuota | undefined> {
    return quota.get(name);
  }

  /** null: within quota; else the refusal text (after "451 "). `q`: the user's quotas, read just before. */
  function messageRefusal(user: AuthenticatedUser, q: UserQuota | undefined, now: number): string | null {
    if (!q?.maxMessagesPerHour) return null;
    const w = usageOf(user.name).messages;
    if (w.used(now) < q.maxMessagesPerHour) return null;
    const free = w.schedule(now, q.maxMessagesPerHour, 1)[0]!;
    return `4.7.1 Message quota exceeded: user ${user.name} may send at most ${q.maxMessagesPerHour} messages per hour; try again after ${when(free)}`;
  }

  /** Writes the usage that changed; resolves once stored (one write at a time, in order). */
  function persist(): Promise<void> {
    saving = saving.then(persistNow);
    return saving;
  }

  async function persistNow(): Promise<void> {
    if (dirty.size === 0) return;
    const now = clock.now();
    const rows: QuotaStateRow[] = [];
    for (const name of dirty) {
      const u = usage.get(name);
      if (!u) continue;
      rows.push({ username: name, windows: JSON.stringify({ messages: u.messages.toJSON(), recipients: u.recipients.toJSON() }), updatedAt: now });
    }
    dirty.clear();
    try {
      await quota.saveStates(rows);
    } catch (err) {
      logger.error({ err }, 'quotas: could not save usage (kept in memory, retried)');
      for (const r of rows) dirty.add(r.username);
    }
  }

  const ACCEPT: RecipientDecision = { action: 'accept' };
  // Checked and counted in the same synchronous step after the quota is read: two sessions never
  // both take the last recipient of a day.
  const recipientDecision = (address: ParsedAddress, user: AuthenticatedUser, q: UserQuota | undefined): RecipientDecision => {
    if (!q?.maxRecipientsPerDay) return ACCEPT;
    const now = clock.now();
    const w = usageOf(user.name).recipients;
    if (w.used(now) >= q.maxRecipientsPerDay) {
      const free = w.schedule(now, q.maxRecipientsPerDay, 1)[0]!;
      logger.info({ user: user.name, recipient: address.address, quota: q.maxRecipientsPerDay }, 'quota: recipients per day exceeded');
      return {
        action: 'reject',
        code: 451,
        text: `4.7.1 Recipient quota exceeded: user ${user.name} may send to at most ${q.maxRecipientsPerDay} recipients per day; try again after ${when(free)}`,
      };
    }
    w.take(now);
    dirty.add(user.name);
    return ACCEPT;
  };
  const recipientPolicy: RecipientPolicy = {
    // Unauthenticated mail has no quota: answered at once, without reading the store.
    check: (address, user) => (user ? quotaOf(user.name).then((q) => recipientDecision(address, user, q)) : ACCEPT),
  };

  const senderPolicy: SenderPolicy = {
    check(_sender, user) {
      if (!user) return null;
      return quotaOf(user.name).then((q) => {
        const refusal = messageRefusal(user, q, clock.now());
        if (refusal) logger.info({ user: user.name }, 'quota: messages per hour exceeded');
        return refusal ? { code: 451, text: refusal } : null;
      });
    },
  };

  /** End of DATA: counts the message (or refuses it when parallel sessions used the quota up). */
  const messageCheck: MessageCheck = async ({ session }) => {
    if (!session.username) return;
    const user = { name: session.username, fromDomains: [] };
    const q = await quotaOf(user.name);
    const now = clock.now();
    const refusal = messageRefusal(user, q, now);
    if (refusal) throw smtpError(451, refusal, 'DATA');
    if (!q?.maxMessagesPerHour) return;
    usageOf(user.name).messages.take(now);
    dirty.add(user.name);
  };

  return {
    recipientPolicy,
    senderPolicy,
    messageCheck,
    usage(name: string): QuotaUsage {
      const now = clock.now();
      const u = usageOf(name);
      return { messagesLastHour: u.messages.used(now), recipientsLastDay: u.recipients.used(now) };
    },
    /** Reads the usage saved by an earlier run (once); start() does it first. */
    load,
    async start(): Promise<void> {
      if (running) return;
      running = true;
      await load();
      const arm = () => {
        timer = clock.setTimer(deps.persistIntervalMs, () => {
          if (!running) return;
          void persist().finally(() => {
            if (running) arm();
          });
        });
      };
      arm();
    },
    /** Stops the timer and writes the usage one last time (call it before the store closes). */
    async stop(): Promise<void> {
      running = false;
      timer?.cancel();
      await persist();
    },
    persist,
  };
}

export type Quotas = ReturnType<typeof createQuotas>;
