import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Spool } from '../spool/spool.js';
import type { MessagesStore } from '../core/store.js';
import type { MessageRow, RecipientRow, StoredBodyRef } from '../core/store-types.js';
import type { Signer, SignSource } from './signer.js';

/**
 * The message as it will be sent: its row, and the header block to send (signed). A large inline
 * body may be left in the store (message.bodyRef, message.body null): the signing and delivery
 * threads read it themselves.
 */
export interface PreparedMessage {
  message: MessageRow & { bodyRef?: StoredBodyRef | null };
  headers: Buffer;
}

/**
 * The sign stage as the delivery worker calls it: before the first transaction of a message,
 * and for each recipient whose header block is its own (one-click unsubscribe).
 */
export interface SigningStage {
  /** The row and the (signed) header block to send; null: the message is gone (purged). */
  prepare(messageId: string): Promise<PreparedMessage | null>;
  /** true: each recipient of this message gets its own header block (forRecipient), one transaction each. */
  perRecipient(message: MessageRow): boolean;
  forRecipient(prepared: PreparedMessage, recipient: RecipientRow): Promise<Buffer>;
}

/**
 * The signing thread that held the message stopped (FERRY_ERR_SIGN_WORKER): not the message's
 * fault, so it is not sent unsigned; the error goes up and the attempt is retried later.
 */
function isTransient(err: unknown): boolean {
  // FERRY_ERR_STORE: the body left in the store could not be read (a signing thread reads it itself).
  return err instanceof FerryError && (err.code === 'FERRY_ERR_SIGN_WORKER' || err.code === 'FERRY_ERR_STORE');
}

/**
 * Before a message's first delivery: DKIM-sign it for its From domain, once, and store the
 * signed header block, so every later attempt (and every destination) sends the same bytes.
 * Signing is the last change to the message. A message without a usable key goes unsigned
 * (and says so in the log); a signing error is logged and the message is sent unsigned rather
 * than held forever — except when a signing thread died under it, which is retried.
 */
export function createMessagePreparer(deps: {
  /** The store's messages (on SQLite the signed headers are written on the writer thread). */
  messages: Pick<MessagesStore, 'get' | 'head' | 'markSigned'>;
  spool: Spool;
  signer: Signer;
  clock: Clock;
  logger: Logger;
  /** The one-click unsubscribe headers for one recipient; absent: messages that ask for them go without. */
  unsubscribeHeaders?: ((message: MessageRow, recipient: string) => string) | undefined;
}): SigningStage {
  const inProgress = new Map<string, Promise<PreparedMessage | null>>();
  /** The stored bytes as data a signing thread can read by itself (the spool file by its path). */
  const source = (headers: Buffer, message: PreparedMessage['message']): SignSource | (() => NodeJS.ReadableStream) =>
    deps.spool.signSource({ id: message.id, bodyBytes: message.size - message.headers.length, headers, inline: message.body, file: message.spoolFile, row: message.bodyRef ?? null });

  async function prepare(id: string): Promise<PreparedMessage | null> {
    // The row without a large inline body (SQLite): the signing and delivery threads read it.
    const message = await deps.messages.head(id);
    if (!message) return null;
    if (message.signedAt !== null) return { message, headers: message.headers };
    // Per-recipient headers: signed for each recipient at send time (forRecipient), not here.
    if (message.listUnsubscribe && deps.unsubscribeHeaders) return { message, headers: message.headers };
    const fromDomain = (message.headerFrom ?? message.sender).split('@').pop()?.toLowerCase() ?? '';
    let headers: Buffer;
    let body = message.body;
    try {
      const result = fromDomain
        ? await deps.signer.sign(fromDomain, source(message.headers, message))
        : null;
      if (!result) {
        // Nothing changes, so nothing is written; a key added later signs a later attempt.
        deps.logger.info({ queueId: id, fromDomain }, 'no DKIM key for the From domain: sending unsigned');
        return { message, headers: message.headers };
      }
      headers = Buffer.concat([Buffer.from(result.headers, 'latin1'), message.headers]);
      // The body the signing thread read from the store: given to the delivery thread, not read again.
      if (result.body && message.bodyRef && result.body.length === message.bodyRef.bytes) body = result.body;
      deps.logger.debug({ queueId: id, d: result.domain, selectors: result.selectors }, 'message signed');
    } catch (err) {
      if (isTransient(err)) throw err;
      deps.logger.error({ queueId: id, err }, 'DKIM signing failed: sending unsigned');
      return { message, headers: message.headers };
    }
    if (!(await deps.messages.markSigned(id, headers, deps.clock.now()))) {
      // Another worker signed it first: use what is stored.
      const stored = await deps.messages.head(id);
      return stored ? { message: stored, headers: stored.headers } : null;
    }
    const updated = { ...message, headers, body, size: message.size - message.headers.length + headers.length, signedAt: deps.clock.now() };
    return { message: updated, headers };
  }

  /**
   * The header block for one recipient of a message with one-click unsubscribe: its own
   * List-Unsubscribe and List-Unsubscribe-Post, then the stored headers, DKIM-signed over all of
   * them, so the signature covers both headers (RFC 8058 §4). Signed again at each attempt.
   */
  async function forRecipient(prepared: PreparedMessage, recipient: RecipientRow): Promise<Buffer> {
    const message = prepared.message;
    if (!message.listUnsubscribe || !deps.unsubscribeHeaders) return prepared.headers;
    const base = Buffer.concat([Buffer.from(deps.unsubscribeHeaders(message, recipient.address), 'utf8'), message.headers]);
    const fromDomain = (message.headerFrom ?? message.sender).split('@').pop()?.toLowerCase() ?? '';
    try {
      const result = fromDomain ? await deps.signer.sign(fromDomain, source(base, message)) : null;
      return result ? Buffer.concat([Buffer.from(result.headers, 'latin1'), base]) : base;
    } catch (err) {
      if (isTransient(err)) throw err;
      deps.logger.error({ queueId: message.id, err }, 'DKIM signing failed: sending unsigned');
      return base;
    }
  }

  return {
    forRecipient,
    perRecipient: (message) => Boolean(message.listUnsubscribe && deps.unsubscribeHeaders),
    /** Concurrent callers for one message (several destinations) share one signing. */
    prepare(id: string): Promise<PreparedMessage | null> {
      let p = inProgress.get(id);
      if (!p) {
        p = prepare(id).finally(() => inProgress.delete(id));
        inProgress.set(id, p);
      }
      return p;
    },
  };
}
