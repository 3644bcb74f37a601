import { dropOf, type AcceptedDrop } from '../core/dropped.js';
import type { AcceptedMessage } from '../core/store-types.js';
import type { Db } from './db.js';
import { createEventsRepo } from './events-repo.js';
import { createMessagesRepo, type MessageRow } from './messages-repo.js';
import { createRecipientsRepo, type NewRecipient } from './recipients-repo.js';

export type { AcceptedMessage };

/**
 * The queue's multi-table writes. Each method is one synchronous transaction (never spans an
 * await), so a message, its recipients and their events become visible together or not at all.
 */
export function createQueueStore(db: Db) {
  const messages = createMessagesRepo(db);
  const recipients = createRecipientsRepo(db);
  const events = createEventsRepo(db);

  const acceptBatch = db.transaction((batch: AcceptedMessage[]): AcceptedDrop[] => {
    const drops: AcceptedDrop[] = [];
    for (const item of batch) {
      const m = item.message;
      messages.insert(m);
      for (const r of item.recipients) {
        const id = recipients.insert({ ...r, messageId: m.id, at: m.createdAt });
        if (r.status === 'dropped') {
          // Born dropped: its event and report are its fate (outcome/fate, origin intake-drop).
          drops.push(dropOf(m, r, id));
          continue;
        }
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
    return drops;
  });

  return {
    messages,
    recipients,
    events,
    /**
     * Commits a batch of accepted messages in one transaction: one fsync for all of them. Returns
     * the recipients born dropped, whose fate (event, report) the caller records in the same
     * transaction (outcome/fate, origin intake-drop).
     */
    accept(batch: AcceptedMessage[]): AcceptedDrop[] {
      return acceptBatch(batch);
    },
  };
}

export type QueueStore = ReturnType<typeof createQueueStore>;
