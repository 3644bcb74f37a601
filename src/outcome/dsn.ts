import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import { parseAddress } from '../policy/addresses.js';
import type { Store } from '../core/store.js';
import type { AcceptedMessage, MessageRow } from '../core/store-types.js';
import { ownMessage } from '../core/own-mail.js';
import { composeDsn, FAILURE_KINDS, type DsnRecipient } from './dsn-compose.js';

/**
 * RFC 3461 NOTIFY: does the recipient want this kind of report? No NOTIFY at all means
 * failures only (what Ferry always did); NEVER means none, whatever happens.
 */
export function wantsReport(notify: readonly string[] | null | undefined, kind: DsnRecipient['kind']): boolean {
  if (FAILURE_KINDS.has(kind)) return !notify || notify.length === 0 || notify.includes('FAILURE');
  if (kind === 'delayed') return Boolean(notify?.includes('DELAY'));
  return Boolean(notify?.includes('SUCCESS'));
}

/**
 * Delivery status notifications: for recipients that bounced or expired (and, if configured,
 * were dropped at intake), one RFC 3464 report per original message and outcome batch goes to
 * the envelope sender — through Ferry's own queue, as a message of kind 'dsn' with a null
 * sender, so it is retried like any other mail and can never cause a DSN of its own.
 *
 * Never to a null sender, never about a message that is itself a DSN.
 *
 * Durability (an outbox): a recipient's fate (outcome/fate) writes the report line that is due
 * — a row of dsn_outbox — inside the same transaction as the status change. flush() then composes each
 * due report outside the delivery path's transaction and queues it in one transaction with the
 * removal of its outbox row. A crash between the two leaves the row, and the next start queues
 * the report; nothing is reported twice.
 */
export interface DsnConfig {
  /** Also report recipients dropped at intake because they are on the suppression list. */
  onDropped: boolean;
  /** NOTIFY=DELAY: one delay report once a recipient has been deferred this long. */
  delayAfterHours?: number;
}

export interface DsnNotifierDeps {
  /** The outbox, the original message and its recipients; the report is queued through dsnOutbox.queueReport. */
  store: Pick<Store, 'dsnOutbox' | 'messages' | 'recipients'>;
  hostname: string;
  clock: Clock;
  random: Random;
  newId: () => string;
  logger: Logger;
  config: DsnConfig;
  /** The retry window, for the words about expired recipients. */
  maxAgeHours: number;
  /** A DSN was queued: let the scheduler look now. */
  onQueued?: (id: string) => void;
  /** The whole original message for RET=FULL (null: too large or unreadable: the headers go instead). */
  readFull?: (message: MessageRow) => Buffer | null | Promise<Buffer | null>;
}

export interface DsnNotifier {
  /** A fate wrote report lines to the outbox (outcome/fate): the next flush looks. */
  due(): void;
  /**
   * Queues every due report; resolves with the ids of the DSNs queued. Call after the recording
   * transaction committed. Never rejects (a report that cannot be queued is logged and kept for
   * the next start); a flush called while one runs makes it look once more.
   */
  flush(): Promise<string[]>;
  /** Reports due and not yet queued. */
  pending(): Promise<number>;
}

export function createDsnNotifier(deps: DsnNotifierDeps): DsnNotifier {
  const { store, logger } = deps;
  /** Rows whose report could not be composed in this process: kept for the next start, not retried in a loop. */
  const failed = new Set<number>();
  /** Rows may be waiting: true at start (a crash may have left some) and after each due(). */
  let mayHaveRows = true;

  /** Builds the DSN for one due report, or says why none is sent. */
  async function compose(messageId: string, due: DsnRecipient[]): Promise<AcceptedMessage | null> {
    const original = await store.messages.get(messageId);
    if (!original) {
      logger.info({ queueId: messageId }, 'no DSN: the original message is no longer in the queue');
      return null;
    }
    // NOTIFY and ORCPT live on the recipient rows, whoever recorded the report (outcome, async bounce, expiry, drop).
    const rows = new Map((await store.recipients.forMessage(messageId)).map((r) => [r.address, r]));
    const recipients = due
      .filter((r) => wantsReport(rows.get(r.address)?.dsnNotify, r.kind))
      .map((r) => ({ ...r, orcpt: rows.get(r.address)?.dsnOrcpt ?? null }));
    if (recipients.length === 0) {
      logger.info({ queueId: messageId, recipients: due.map((r) => `${r.address} (${r.kind})`) }, 'no DSN: the sender asked not to be told (NOTIFY)');
      return null;
    }
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
        envid: original.dsnEnvid ?? null,
        full: original.dsnRet === 'FULL' && recipients.some((r) => FAILURE_KINDS.has(r.kind)) ? ((await deps.readFull?.(original)) ?? null) : null,
      },
      recipients,
    });
    return {
      message: ownMessage({
        id,
        createdAt: now,
        headers: composed.headers,
        body: composed.body,
        headerFrom: composed.from,
        messageIdHeader: `<${id}.dsn@${deps.hostname}>`,
        subject: composed.subject,
        eightBit: composed.eightBit,
        smtputf8: to.utf8Local || /[^\x00-\x7f]/.test(original.sender),
        kind: 'dsn',
        // RFC 8689 §4.3: a report about a REQUIRETLS message carries its header and is protected the same way.
        requireTls: original.requireTls ?? false,
      }),
      recipients: [{ address: to.address, domain: to.domain, status: 'queued', reason: null, category: null }],
    };
  }

  // The DSN and the removal of its outbox row commit together (dsnOutbox.queueReport): queued
  // once, never lost. The CLI (`ferry queue purge`) flushes the same outbox as the running relay:
  // whoever removes the row queues it.
  async function flushOnce(queued: string[]): Promise<void> {
    let after = 0;
    for (;;) {
      const rows = (await store.dsnOutbox.list(after, 100)) as { id: number; messageId: string; recipients: DsnRecipient[] }[];
      if (rows.length === 0) break;
      for (const row of rows) {
        after = row.id;
        if (failed.has(row.id)) continue;
        try {
          const dsn = await compose(row.messageId, row.recipients);
          if (!(await store.dsnOutbox.queueReport(row.id, dsn)) || !dsn) continue;
          queued.push(dsn.message.id);
          logger.info(
            { queueId: dsn.message.id, about: row.messageId, to: dsn.recipients[0]!.address, recipients: row.recipients.map((r) => `${r.address} (${r.kind})`) },
            'delivery status notification queued',
          );
          deps.onQueued?.(dsn.message.id);
        } catch (err) {
          failed.add(row.id);
          logger.error({ err, queueId: row.messageId, outboxId: row.id }, 'could not queue a delivery status notification: kept for the next start');
        }
      }
    }
  }

  // One flush at a time: the outbox is read in id order, and a row must not be composed twice.
  let running: Promise<string[]> | null = null;
  let again = false;
  async function run(): Promise<string[]> {
    const queued: string[] = [];
    do {
      again = false;
      // Called after every outcome batch and intake commit: skip the query when nothing was recorded.
      if (!mayHaveRows) continue;
      mayHaveRows = false;
      try {
        await flushOnce(queued);
      } catch (err) {
        // The outbox could not be read (the store is closing or failed): look again next time.
        mayHaveRows = true;
        logger.error({ err }, 'could not read the DSN outbox: tried again at the next flush');
        break;
      }
    } while (again);
    return queued;
  }

  return {
    due() {
      mayHaveRows = true;
    },
    flush() {
      if (running) {
        again = true;
        return running;
      }
      running = run().finally(() => {
        running = null;
      });
      return running;
    },
    pending: () => store.dsnOutbox.count(),
  };
}
