import type { FateRecipient } from '../core/fate.js';
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

/** A recipient dropped at intake, as its fate needs it. */
export interface AcceptedDrop {
  recipient: FateRecipient;
  reason: string | null;
  category: string | null;
  /** The SMTP user that sent the message (suppression entries may be scoped to it). */
  user: string | null;
  kind: string;
  sender: string;
}

const BLANK: Omit<FateRecipient, 'id' | 'messageId' | 'address' | 'domain' | 'status' | 'createdAt' | 'updatedAt'> = {
  attempts: 0, lastReply: null, lastCode: null, lastEnhanced: null, category: null, mxHost: null, leaseUntil: null, dsnNotify: null, dsnDelayAt: null,
};

export type QueueStore = ReturnType<typeof createQueueStore>;

/** A recipient born dropped, as its fate needs it (id 0 before the commit gives it one). */
function dropOf(m: AcceptedMessage['message'], r: AcceptedMessage['recipients'][number], id: number): AcceptedDrop {
  return {
    recipient: { ...BLANK, id, messageId: m.id, address: r.address, domain: r.domain, status: 'dropped', createdAt: m.createdAt, updatedAt: m.createdAt, lastReply: r.reason, category: r.category, dsnNotify: r.dsnNotify ?? null },
    reason: r.reason,
    category: r.category,
    user: m.username,
    kind: m.kind,
    sender: m.sender,
  };
}

/**
 * The recipients of a message that will be born dropped, in the order accept() inserts them,
 * before the commit (id 0): outcome/fate plans their fates ahead and the engine fills in the ids.
 */
export function bornDropped(item: AcceptedMessage): AcceptedDrop[] {
  return item.recipients.filter((r) => r.status === 'dropped').map((r) => dropOf(item.message, r, 0));
}
