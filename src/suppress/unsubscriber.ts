import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Db } from '../store/db.js';
import type { QueueStore } from '../store/queue-store.js';
import type { OneClick, UnsubscribeClaim } from './one-click.js';
import type { DbSuppressionList as SuppressionList } from './suppression-list-db.js';

/**
 * What a one-click unsubscribe does (an https POST, or mail to the mailto: address): the token's
 * recipient goes on the suppression list with category `unsubscribed` and source `one-click`,
 * scoped to the user that sent the message (global when it was sent without AUTH), and an
 * `unsubscribed` event (hence a webhook) is recorded — in one transaction. A second click
 * refreshes the entry and records no second event.
 */
export interface UnsubscriberDeps {
  db: Db;
  queue: QueueStore;
  oneClick: OneClick;
  suppressions: SuppressionList;
  clock: Clock;
  logger: Logger;
  /** Something was recorded (webhooks look now). */
  onRecorded?: () => void;
}

export type UnsubscribeResult = { ok: true; claim: UnsubscribeClaim; created: boolean } | { ok: false };

export interface Unsubscriber {
  /** The claim a token makes, or null (for the confirmation page: nothing changes). */
  check(token: string): UnsubscribeClaim | null;
  unsubscribe(token: string, via: 'https' | 'mailto'): UnsubscribeResult;
  /** A request by mail (the List-Unsubscribe mailto: link): its Subject carries the token. */
  unsubscribeByMail(raw: Buffer): Promise<UnsubscribeResult>;
}

export function createUnsubscriber(deps: UnsubscriberDeps): Unsubscriber {
  const { db, queue, logger } = deps;

  const apply = db.transaction((claim: UnsubscribeClaim, via: string, at: number): boolean => {
    const { created } = deps.suppressions.suppress(claim.recipient, 'unsubscribed', `one-click unsubscribe (${via}) from message ${claim.queueId}`, 'one-click', {
      user: claim.user,
    });
    if (!created) return false;
    const message = queue.messages.getSummary(claim.queueId);
    const row = message ? queue.recipients.forMessage(claim.queueId).find((r) => r.address === claim.recipient) : undefined;
    queue.events.append({
      at,
      messageId: claim.queueId,
      recipientId: row?.id ?? null,
      recipient: claim.recipient,
      type: 'unsubscribed',
      status: null,
      category: 'unsubscribed',
      detail: { via, user: claim.user, ...(message?.dsnEnvid ? { envid: message.dsnEnvid } : {}) },
    });
    return true;
  });

  const unsubscriber: Unsubscriber = {
    check: (token) => deps.oneClick.verify(token),
    unsubscribe(token, via) {
      const claim = deps.oneClick.verify(token);
      if (!claim) {
        logger.warn({ via }, 'one-click unsubscribe: invalid token ignored');
        return { ok: false };
      }
      const created = apply(claim, via, deps.clock.now());
      logger.info({ queueId: claim.queueId, recipient: claim.recipient, user: claim.user, via, created }, 'one-click unsubscribe: recipient suppressed');
      if (created) deps.onRecorded?.();
      return { ok: true, claim, created };
    },
    async unsubscribeByMail(raw) {
      const token = await tokenFromMail(raw);
      return token ? unsubscriber.unsubscribe(token, 'mailto') : { ok: false };
    },
  };
  return unsubscriber;
}

/**
 * The token of an unsubscribe request by mail: the mailto: link sets the Subject to
 * "unsubscribe TOKEN" (a client may prefix "Re:" or similar, so the last word counts).
 */
export async function tokenFromMail(raw: Buffer): Promise<string | null> {
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const words = (parsed.subject ?? '').trim().split(/\s+/);
  const last = words[words.length - 1];
  return last && last.startsWith('u1.') ? last : null;
}
