import type { FateRecipient } from './fate.js';
import type { AcceptedMessage } from './store-types.js';

/**
 * A recipient born dropped (suppressed at RCPT): its event and the report to its sender are its
 * fate (outcome/fate, origin intake-drop), written in the intake transaction itself. Outcome plans
 * those fates before the commit from bornDropped(); the engine that inserts the recipients fills
 * in their ids, in the same order.
 */

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

/** A recipient born dropped, as its fate needs it (id 0 before the commit gives it one). */
export function dropOf(m: AcceptedMessage['message'], r: AcceptedMessage['recipients'][number], id: number): AcceptedDrop {
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
