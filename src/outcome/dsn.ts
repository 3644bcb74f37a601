import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import { parseAddress } from '../policy/addresses.js';
import type { AcceptedMessage, QueueStore } from '../store/queue-store.js';
import type { AttemptContext, AppliedDecision } from './apply.js';
import { composeDsn, type DsnRecipient } from './dsn-compose.js';

/**
 * Delivery status notifications: for recipients that bounced or expired (and, if configured,
 * were dropped at intake), one RFC 3464 report per original message and outcome batch goes to
 * the envelope sender — through Ferry's own queue, as a message of kind 'dsn' with a null
 * sender, so it is retried like any other mail and can never cause a DSN of its own.
 *
 * Never to a null sender, never about a message that is itself a DSN.
 *
 * Durability: the report is composed and committed synchronously (report() does no I/O before
 * `commit`), in its own transaction right after the outcome's, in the same turn of the event
 * loop. Only a crash between those two commits loses the report (the recipient's status and
 * event are never lost); composing inside the outcome transaction would close that window at
 * the price of MIME building under the delivery path's write lock.
 */
export interface DsnConfig {
  /** Also report recipients dropped at intake because they are on the suppression list. */
  onDropped: boolean;
}

export interface DsnNotifierDeps {
  queue: QueueStore;
  /** Commits a message; called before report() awaits anything, so a synchronous commit lands in the caller's turn. */
  commit: (m: AcceptedMessage) => Promise<void>;
  hostname: string;
  clock: Clock;
  random: Random;
  newId: () => string;
  logger: Logger;
  config: DsnConfig;
  /** The retry window, for the words about expired recipients. */
  maxAgeHours: number;
  /** When (and why) an address went on the suppression list, for dropped recipients. */
  suppressionOf?: (address: string, user: string | null) => { createdAt: number; category: string; reason: string } | null;
  /** A DSN was queued: let the scheduler look now. */
  onQueued?: (id: string) => void;
}

export interface DsnNotifier {
  /** For OutcomeDeps.onApplied: reports this batch's bounced and expired recipients. */
  onApplied(applied: AppliedDecision[], ctx: AttemptContext): void;
  /** After intake committed messages: reports their dropped recipients (if configured). */
  onAccepted(ids: string[]): void;
  /** Reports failed recipients of one message (e.g. an asynchronous bounce). Resolves with the DSN's id, or null when none is due. */
  report(messageId: string, recipients: DsnRecipient[]): Promise<string | null>;
  /** DSN commits still in progress (shutdown waits for them). */
  idle(): Promise<void>;
}

export function createDsnNotifier(deps: DsnNotifierDeps): DsnNotifier {
  const { queue, logger } = deps;
  const inFlight = new Set<Promise<unknown>>();

  async function report(messageId: string, recipients: DsnRecipient[]): Promise<string | null> {
    if (recipients.length === 0) return null;
    const original = queue.messages.get(messageId);
    if (!original) return null;
    if (original.kind === 'dsn') {
      logger.info({ queueId: messageId, recipients: recipients.map((r) => r.address) }, 'no DSN: the failed message is itself a DSN');
      return null;
    }
    if (original.sender === '') {
      logger.info({ queueId: messageId }, 'no DSN: the message has a null sender');
      return null;
    }
    const to = parseAddress(original.sender);
    if (!to) {
      logger.warn({ queueId: messageId, sender: original.sender }, 'no DSN: the envelope sender is not a usable address');
      return null;
    }
    const now = deps.clock.now();
    const id = deps.newId();
    const composed = composeDsn({
      hostname: deps.hostname,
      messageId: `${id}.dsn@${deps.hostname}`,
      boundary: `=_ferry_dsn_${deps.random.bytes(12).toString('hex')}`,
      now,
      maxAgeHours: deps.maxAgeHours,
      original: {
        queueId: original.id,
        arrivalAt: original.createdAt,
        sender: original.sender,
        messageIdHeader: original.messageIdHeader,
        subject: original.subject,
        headers: original.headers,
      },
      recipients,
    });
    const accepted: AcceptedMessage = {
      message: {
        id,
        createdAt: now,
        sender: '',
        username: null,
        clientIp: null,
        helo: null,
        tls: null,
        size: composed.headers.length + composed.body.length,
        headers: composed.headers,
        body: composed.body,
        spoolFile: null,
        headerFrom: composed.from,
        messageIdHeader: `<${id}.dsn@${deps.hostname}>`,
        subject: composed.subject,
        eightBit: composed.eightBit,
        smtputf8: to.utf8Local || /[^\x00-\x7f]/.test(original.sender),
        kind: 'dsn',
      },
      recipients: [{ address: to.address, domain: to.domain, status: 'queued', reason: null, category: null }],
    };
    await deps.commit(accepted);
    logger.info(
      { queueId: id, about: messageId, to: to.address, recipients: recipients.map((r) => `${r.address} (${r.kind})`) },
      'delivery status notification queued',
    );
    deps.onQueued?.(id);
    return id;
  }

  function track(p: Promise<unknown>, messageId: string): void {
    const q = p.catch((err: unknown) => logger.error({ err, queueId: messageId }, 'could not queue a delivery status notification'));
    inFlight.add(q);
    void q.finally(() => inFlight.delete(q));
  }

  return {
    report,
    onApplied(applied, ctx) {
      const byMessage = new Map<string, DsnRecipient[]>();
      for (const a of applied) {
        const d = a.decision;
        if (d.status !== 'bounced' && d.status !== 'expired') continue;
        const list = byMessage.get(a.recipient.messageId) ?? [];
        list.push({
          address: a.recipient.address,
          kind: d.status,
          category: d.classification?.category ?? null,
          reply: d.replyText,
          code: d.code,
          enhanced: d.enhanced,
          remoteMta: ctx.hop?.host ?? null,
          lastAttemptAt: ctx.startedAt,
        });
        byMessage.set(a.recipient.messageId, list);
      }
      for (const [messageId, recipients] of byMessage) track(report(messageId, recipients), messageId);
    },
    onAccepted(ids) {
      if (!deps.config.onDropped) return;
      for (const id of ids) {
        const dropped = queue.recipients.forMessage(id).filter((r) => r.status === 'dropped');
        if (dropped.length === 0) continue;
        const message = queue.messages.getSummary(id);
        const recipients = dropped.map((r): DsnRecipient => {
          const entry = deps.suppressionOf?.(r.address, message?.username ?? null) ?? null;
          return {
            address: r.address,
            kind: 'dropped',
            category: entry?.category ?? r.category,
            reply: r.lastReply,
            code: null,
            enhanced: null,
            remoteMta: null,
            lastAttemptAt: null,
            suppressedAt: entry?.createdAt ?? null,
          };
        });
        track(report(id, recipients), id);
      }
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
