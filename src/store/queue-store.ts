import type { Db } from './db.js';
import { createEventsRepo } from './events-repo.js';
import { createMessagesRepo, type MessageRow } from './messages-repo.js';
import { createRecipientsRepo, type NewRecipient, type RecipientRow } from './recipients-repo.js';

/** A message ready to be committed at end of DATA, with what intake decided for each recipient. */
export interface AcceptedMessage {
  message: Omit<MessageRow, 'signedAt'>;
  recipients: Omit<NewRecipient, 'messageId' | 'at'>[];
}

/**
 * The queue's multi-table writes. Each method is one synchronous transaction (never spans an
 * await), so a message, its recipients and their events become visible together or not at all.
 */
export function createQueueStore(db: Db) {
  const messages = createMessagesRepo(db);
  const recipients = createRecipientsRepo(db);
  const events = createEventsRepo(db);

  const acceptBatch = db.transaction((batch: AcceptedMessage[]) => {
    for (const item of batch) {
      const m = item.message;
      messages.insert(m);
      for (const r of item.recipients) {
        const id = recipients.insert({ ...r, messageId: m.id, at: m.createdAt });
        events.append({
          at: m.createdAt,
          messageId: m.id,
          recipientId: id,
          recipient: r.address,
          type: r.status,
          status: r.status,
          category: r.category,
          detail: r.reason ? { reason: r.reason } : null,
        });
      }
    }
  });

  const expireMessage = db.transaction((messageId: string, at: number, reason: string): RecipientRow[] => {
    const expired: RecipientRow[] = [];
    for (const r of recipients.forMessage(messageId)) {
      if (r.status !== 'queued' && r.status !== 'deferred') continue;
      recipients.changeStatus(r.id, { status: 'expired', at, nextAttemptAt: null, attempted: false, reply: reason, category: 'other' });
      events.append({ at, messageId, recipientId: r.id, recipient: r.address, type: 'expired', status: 'expired', category: 'other', detail: { reason } });
      expired.push(r);
    }
    return expired;
  });

  const expireOverdue = db.transaction((now: number, maxAgeMs: number, limit: number, reason: string): RecipientRow[] => {
    const rows = recipients.overdue(now, maxAgeMs, limit);
    for (const r of rows) {
      // The last remote reply (if any) stays the recipient's reply: it says why it was not delivered.
      recipients.changeStatus(r.id, { status: 'expired', at: now, nextAttemptAt: null, attempted: false, reply: r.lastReply ? null : reason });
      events.append({ at: now, messageId: r.messageId, recipientId: r.id, recipient: r.address, type: 'expired', status: 'expired', category: r.category, detail: { reason } });
    }
    return rows;
  });

  return {
    messages,
    recipients,
    events,
    /** Ends every pending recipient of a message as expired (e.g. its body is lost). Returns them (as they were). */
    expireMessage(messageId: string, at: number, reason: string): RecipientRow[] {
      return expireMessage(messageId, at, reason);
    },
    /**
     * Ends as expired (at most `limit`) waiting recipients whose maximum age has passed and that
     * no attempt would reach in time. Returns them (as they were). Call inside the caller's
     * transaction when it records more (DSNs).
     */
    expireOverdue(now: number, maxAgeMs: number, limit: number, reason: string): RecipientRow[] {
      return expireOverdue(now, maxAgeMs, limit, reason);
    },
    /** Commits a batch of accepted messages in one transaction: one fsync for all of them. */
    accept(batch: AcceptedMessage[]): void {
      acceptBatch(batch);
    },
  };
}

export type QueueStore = ReturnType<typeof createQueueStore>;
