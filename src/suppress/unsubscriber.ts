import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import { suppressionKey } from './normalize.js';
import type { OneClick, UnsubscribeClaim } from './one-click.js';

/**
 * What a one-click unsubscribe does (an https POST, or mail to the mailto: address): the token's
 * recipient goes on the suppression list with category `unsubscribed` and source `one-click`,
 * scoped to the user that sent the message (global when it was sent without AUTH), and an
 * `unsubscribed` event (hence a webhook) is recorded — in one transaction. A second click
 * refreshes the entry and records no second event.
 */
export interface UnsubscriberDeps {
  /** The entry and its event in one transaction (suppressions.upsertWithEvent); the message and recipient are read first. */
  store: { suppressions: Pick<Store['suppressions'], 'upsertWithEvent'>; messages: Pick<Store['messages'], 'getSummary'>; recipients: Pick<Store['recipients'], 'forMessage'> };
  oneClick: OneClick;
  clock: Clock;
  logger: Logger;
  /** Something was recorded (webhooks look now). */
  onRecorded?: () => void;
}

export type UnsubscribeResult = { ok: true; claim: UnsubscribeClaim; created: boolean } | { ok: false };

export interface Unsubscriber {
  /** The claim a token makes, or null (for the confirmation page: nothing changes). */
  check(token: string): UnsubscribeClaim | null;
  unsubscribe(token: string, via: 'https' | 'mailto'): Promise<UnsubscribeResult>;
  /** A request by mail (the List-Unsubscribe mailto: link): its Subject carries the token. */
  unsubscribeByMail(raw: Buffer): Promise<UnsubscribeResult>;
}

export function createUnsubscriber(deps: UnsubscriberDeps): Unsubscriber {
  const { store, logger } = deps;

  async function apply(claim: UnsubscribeClaim, via: string, at: number): Promise<boolean> {
    const key = suppressionKey(claim.recipient);
    if (!key) throw new FerryError('FERRY_ERR_USAGE', `not an email address or @domain: ${JSON.stringify(claim.recipient)}`);
    // The message and its recipient do not change: read before the write, which is one transaction.
    const message = await store.messages.getSummary(claim.queueId);
    const row = message ? (await store.recipients.forMessage(claim.queueId)).find((r) => r.address === claim.recipient) : undefined;
    const { created } = await store.suppressions.upsertWithEvent(
      {
        address: key.address,
        domain: key.domain,
        category: 'unsubscribed',
        reason: `one-click unsubscribe (${via}) from message ${claim.queueId}`,
        source: 'one-click',
        scope: claim.user ?? null,
        createdAt: at,
        expiresAt: null,
      },
      {
        at,
        messageId: claim.queueId,
        recipientId: row?.id ?? null,
        recipient: claim.recipient,
        type: 'unsubscribed',
        status: null,
        category: 'unsubscribed',
        detail: { via, user: claim.user, ...(message?.dsnEnvid ? { envid: message.dsnEnvid } : {}) },
      },
    );
    return created;
  }

  const unsubscriber: Unsubscriber = {
    check: (token) => deps.oneClick.verify(token),
    async unsubscribe(token, via) {
      const claim = deps.oneClick.verify(token);
      if (!claim) {
        logger.warn({ via }, 'one-click unsubscribe: invalid token ignored');
        return { ok: false };
      }
      const created = await apply(claim, via, deps.clock.now());
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
