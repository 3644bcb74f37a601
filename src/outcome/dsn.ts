import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import { parseAddress } from '../policy/addresses.js';
import type { Db } from '../store/db.js';
import { createDsnOutboxRepo } from '../store/dsn-outbox-repo.js';
import type { AcceptedMessage, QueueStore } from '../store/queue-store.js';
import type { MessageRow } from '../store/messages-repo.js';
import type { RecipientRow } from '../store/recipients-repo.js';
import type { AttemptContext, AppliedDecision } from './apply.js';
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
 * Durability (an outbox): whoever ends recipients records the report that is due — a row of
 * dsn_outbox — inside the same transaction as the status change. flush() then composes each
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
  db: Db;
  queue: QueueStore;
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
  /** The whole original message for RET=FULL (null: too large or unreadable: the headers go instead). */
  readFull?: (message: MessageRow) => Buffer | null;
}

export interface DsnNotifier {
  /** Inside the outcome transaction: records the reports this batch's bounced and expired recipients make due. */
  recordApplied(applied: AppliedDecision[], ctx: AttemptContext, now: number): void;
  /** Inside the intake transaction: records reports for recipients dropped at intake (if configured). */
  recordDropped(batch: readonly AcceptedMessage[], now: number): void;
  /**
   * Before the intake commit: the reports one accepted message makes due (recipients dropped at
   * intake, if configured), as plain data the store writes to the outbox in the intake
   * transaction (store.queue.accept). flush() after the commit queues them.
   */
  intakeReports(item: AcceptedMessage): { recipients: DsnRecipient[] }[];
  /** Inside the transaction that expired these recipients because their message's body was lost. */
  recordBodyLost(messageId: string, expired: readonly RecipientRow[], reason: string, now: number): void;
  /** Inside the transaction that ended these recipients of one message: records their report. */
  record(messageId: string, recipients: DsnRecipient[], now: number): void;
  /** Queues every due report; returns the ids of the DSNs queued. Call after the recording transaction committed. */
  flush(): string[];
  /** Reports due and not yet queued. */
  pending(): number;
}

export function createDsnNotifier(deps: DsnNotifierDeps): DsnNotifier {
  const { db, queue, logger } = deps;
  const outbox = createDsnOutboxRepo<DsnRecipient>(db);
  /** Rows whose report could not be composed in this process: kept for the next start, not retried in a loop. */
  const failed = new Set<number>();
  /** Rows may be waiting: true at start (a crash may have left some) and after each record(). */
  let mayHaveRows = true;

  /** Builds the DSN for one due report, or says why none is sent. */
  function compose(messageId: string, due: DsnRecipient[]): AcceptedMessage | null {
    const original = queue.messages.get(messageId);
    if (!original) {
      logger.info({ queueId: messageId }, 'no DSN: the original message is no longer in the queue');
      return null;
    }
    // NOTIFY and ORCPT live on the recipient rows, whoever recorded the report (outcome, async bounce, expiry, drop).
    const rows = new Map(queue.recipients.forMessage(messageId).map((r) => [r.address, r]));
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
        full: original.dsnRet === 'FULL' && recipients.some((r) => FAILURE_KINDS.has(r.kind)) ? (deps.readFull?.(original) ?? null) : null,
      },
      recipients,
    });
    return {
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
  }

  // The DSN and the removal of its outbox row commit together: queued once, never lost.
  const queueOne = db.transaction((rowId: number, dsn: AcceptedMessage | null) => {
    if (dsn) queue.accept([dsn]);
    outbox.remove(rowId);
  });

  function intakeReports({ message, recipients }: AcceptedMessage): { recipients: DsnRecipient[] }[] {
    if (!deps.config.onDropped) return [];
    const dropped = recipients.filter((r) => r.status === 'dropped');
    if (dropped.length === 0 || message.kind === 'dsn' || message.sender === '') return [];
    return [
      {
        recipients: dropped.map((r): DsnRecipient => {
          const entry = deps.suppressionOf?.(r.address, message.username) ?? null;
          return {
            address: r.address,
            kind: 'dropped',
            category: entry?.category ?? r.category,
            reply: r.reason,
            code: null,
            enhanced: null,
            remoteMta: null,
            lastAttemptAt: null,
            suppressedAt: entry?.createdAt ?? null,
          };
        }),
      },
    ];
  }

  function record(messageId: string, recipients: DsnRecipient[], now: number): void {
    if (recipients.length === 0) return;
    outbox.add(messageId, recipients, now);
    mayHaveRows = true;
  }

  return {
    record,
    recordApplied(applied, ctx, now) {
      const byMessage = new Map<string, DsnRecipient[]>();
      const delayMs = (deps.config.delayAfterHours ?? 4) * 3_600_000;
      for (const a of applied) {
        const d = a.decision;
        const notify = a.recipient.dsnNotify;
        let kind: DsnRecipient['kind'];
        if (d.status === 'bounced' || d.status === 'expired') kind = d.status;
        else if (d.status === 'delivered' && notify?.includes('SUCCESS')) kind = ctx.dsnRelayed ? 'relayed' : 'delivered';
        else if (
          d.status === 'deferred' &&
          notify?.includes('DELAY') &&
          a.recipient.dsnDelayAt === null &&
          now - a.recipient.createdAt >= delayMs &&
          queue.recipients.markDelayReported(a.recipient.id, now)
        ) {
          kind = 'delayed';
        } else continue;
        const list = byMessage.get(a.recipient.messageId) ?? [];
        list.push({
          address: a.recipient.address,
          kind,
          category: d.classification?.category ?? null,
          reply: d.replyText,
          code: d.code,
          enhanced: d.enhanced,
          remoteMta: ctx.hop?.host ?? null,
          lastAttemptAt: ctx.startedAt,
        });
        byMessage.set(a.recipient.messageId, list);
      }
      for (const [messageId, recipients] of byMessage) record(messageId, recipients, now);
    },
    recordBodyLost(messageId, expired, reason, now) {
      record(
        messageId,
        expired.map((r) => ({
          address: r.address, kind: 'expired', category: 'other', reply: reason, code: null, enhanced: null, remoteMta: null,
          lastAttemptAt: r.attempts > 0 ? r.updatedAt : null, bodyLost: true,
        })),
        now,
      );
    },
    recordDropped(batch, now) {
      for (const item of batch) for (const report of intakeReports(item)) record(item.message.id, report.recipients, now);
    },
    intakeReports(item) {
      const reports = intakeReports(item);
      if (reports.length) mayHaveRows = true;
      return reports;
    },
    flush() {
      const queued: string[] = [];
      // Called after every outcome batch and intake commit: skip the query when nothing was recorded.
      if (!mayHaveRows) return queued;
      mayHaveRows = false;
      let after = 0;
      for (;;) {
        const rows = outbox.list(after, 100);
        if (rows.length === 0) break;
        for (const row of rows) {
          after = row.id;
          if (failed.has(row.id)) continue;
          try {
            const dsn = compose(row.messageId, row.recipients);
            queueOne(row.id, dsn);
            if (!dsn) continue;
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
      return queued;
    },
    pending: () => outbox.count(),
  };
}
