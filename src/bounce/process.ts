import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { FateResult } from '../core/fate.js';
import type { SmtpReply } from '../core/types.js';
import { replyOfReported, reportOrPlainText } from './dsn-classify.js';
import type { FateInput } from '../outcome/fate.js';
import type { Store } from '../core/store.js';
import type { RecipientRow } from '../core/store-types.js';
import { type ComplaintReport, type DeliveryReport, type ReportedRecipient } from './report-parse.js';
import type { Verp, VerpToken } from './verp.js';

/**
 * What to do with mail that came back to the bounce domain (this file reads the report and its
 * VERP token; what a report means for a recipient is its fate, recorded by outcome/fate):
 *
 * - a delivery report whose VERP token checks out: each `Action: failed` recipient of that
 *   message becomes `bounced` (delivered → bounced is the one legal move out of a final state),
 *   with an event, the classified category, and a suppression when the category calls for one;
 *   the original sender gets a DSN (the VERP return path hid the remote's report from them);
 * - an ARF complaint: the recipient goes on the suppression list (category and source
 *   `complaint`, scoped to the SMTP user that sent the message, if any), a `complaint` event is
 *   recorded and the recipient is marked complained (shown as "spam"); its status stays what it was;
 * - a forged or altered token: ignored and logged; anything else (auto-replies, spam to the
 *   bounce domain): discarded. The SMTP client gets 250 in every case.
 */
export type BounceResult =
  | { action: 'bounced'; queueId: string; recipient: string; category: string; suppressed: boolean }
  | { action: 'complaint'; queueId: string; recipient: string }
  | { action: 'ignored'; reason: string }
  | { action: 'discarded'; reason: string };

export interface BounceProcessorDeps {
  /** Reads only: the recipients a report names and their message (the writes are fates). */
  store: Pick<Store, 'recipients' | 'messages'>;
  verp: Verp;
  /**
   * outcome/fate: what a report means for a recipient (status, event, suppression, the report to
   * the original sender — the VERP return path hid the remote's from them) is its fate.
   */
  fate: { record(inputs: readonly FateInput[]): Promise<FateResult[]> };
  clock: Clock;
  logger: Logger;
}

export interface InboundMail {
  sessionId: string;
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

/** The reply a report carries for a recipient (shared with `ferry bounces classify --eml`). */
export const replyOf = (r: ReportedRecipient): SmtpReply => replyOfReported(r);

export function createBounceProcessor(deps: BounceProcessorDeps) {
  const { store, verp, logger } = deps;

  /** The first VERP address (envelope first, then the report's text) whose token checks out. */
  function findToken(mail: InboundMail, searchText: string): VerpToken | 'forged' | null {
    let forged = false;
    for (const candidate of [...mail.rcptTo, ...verp.findIn(searchText)]) {
      const t = verp.parse(candidate);
      if (t === 'forged') forged = true;
      else if (t) return t;
    }
    return forged ? 'forged' : null;
  }

  /**
   * Mail that cannot carry a valid token is answered before any MIME parsing: neither the
   * envelope nor the raw text holds one, and no part is transfer-encoded (where a token could
   * hide from a plain scan). Both scans are linear. Returns null when the report must be parsed.
   */
  function withoutToken(mail: InboundMail): BounceResult[] | null {
    let forged = false;
    for (const candidate of mail.rcptTo) {
      const t = verp.parse(candidate);
      if (t === 'forged') forged = true;
      else if (t) return null;
    }
    const text = mail.raw.toString('latin1');
    for (const candidate of verp.findIn(text)) {
      const t = verp.parse(candidate);
      if (t === 'forged') forged = true;
      else if (t) return null;
    }
    const lower = text.toLowerCase();
    if (lower.includes('base64') || lower.includes('quoted-printable')) return null;
    if (forged) {
      logger.warn({ session: mail.sessionId, from: mail.mailFrom, rcptTo: mail.rcptTo }, 'bounce domain: forged or altered VERP token, report ignored');
      return [{ action: 'ignored', reason: 'forged VERP token' }];
    }
    logger.info({ session: mail.sessionId, from: mail.mailFrom, rcptTo: mail.rcptTo, size: mail.raw.length }, 'bounce domain: no VERP token anywhere in the mail, discarded unparsed');
    return [{ action: 'discarded', reason: 'no VERP token' }];
  }

  function pick(rows: RecipientRow[], token: VerpToken, addresses: (string | null)[]): RecipientRow | null {
    if (token.recipientId !== null) return rows.find((r) => r.id === token.recipientId) ?? null;
    const wanted = addresses.filter((a): a is string => Boolean(a)).map((a) => a.toLowerCase());
    const match = rows.find((r) => wanted.includes(r.address.toLowerCase()));
    if (match) return match;
    return rows.length === 1 ? rows[0]! : null;
  }

  // Every recipient the report names, with the report to the sender, in one transaction.
  async function onDeliveryReport(mail: InboundMail, report: DeliveryReport, token: VerpToken): Promise<BounceResult[]> {
    const rows = await store.recipients.forMessage(token.queueId);
    const results: (BounceResult | null)[] = [];
    const inputs: FateInput[] = [];
    for (const rr of report.recipients) {
      if (rr.action !== 'failed') {
        results.push({ action: 'ignored', reason: `action ${rr.action || 'missing'} for ${rr.finalRecipient ?? '?'}` });
        continue;
      }
      const row = pick(rows, token, [rr.finalRecipient, rr.originalRecipient]);
      if (!row) {
        logger.warn({ session: mail.sessionId, queueId: token.queueId, finalRecipient: rr.finalRecipient }, 'bounce report: no such recipient on the message');
        results.push({ action: 'ignored', reason: `no recipient ${rr.finalRecipient ?? '?'} on ${token.queueId}` });
        continue;
      }
      results.push(null);
      inputs.push({ origin: 'async-bounce', recipient: row, facts: { reply: replyOf(rr), remoteMta: rr.remoteMta, reportingMta: report.reportingMta } });
    }
    const fates = await deps.fate.record(inputs);
    let i = 0;
    return results.map((r) => {
      if (r) return r;
      const f = fates[i++]!;
      const p = f.plan;
      if (!f.applied) return { action: 'ignored', reason: `${p.address} is already final` };
      logger.info(
        { session: mail.sessionId, queueId: p.messageId, recipient: p.address, category: p.verdict.category, rule: p.verdict.rule, suppressed: p.verdict.suppress, reply: p.verdict.reply, reportingMta: report.reportingMta },
        'asynchronous bounce: recipient bounced',
      );
      return { action: 'bounced', queueId: p.messageId, recipient: p.address, category: p.verdict.category ?? 'other', suppressed: p.verdict.suppress };
    });
  }

  async function onComplaint(mail: InboundMail, report: ComplaintReport, token: VerpToken): Promise<BounceResult[]> {
    const rows = await store.recipients.forMessage(token.queueId);
    const row = pick(rows, token, report.originalRcptTo);
    if (!row) {
      logger.warn({ session: mail.sessionId, queueId: token.queueId, rcptTo: report.originalRcptTo }, 'complaint: no such recipient on the message');
      return [{ action: 'ignored', reason: 'complaint names no recipient of the message' }];
    }
    const user = (await store.messages.getSummary(row.messageId))?.username ?? null;
    const [fate] = await deps.fate.record([
      { origin: 'complaint', recipient: row, facts: { feedbackType: report.feedbackType, userAgent: report.userAgent, reportingMta: report.reportingMta, sourceIp: report.sourceIp, user } },
    ]);
    if (!fate?.applied) {
      logger.info({ session: mail.sessionId, queueId: row.messageId, recipient: row.address, status: fate?.previousStatus ?? null }, 'complaint about a recipient that was never sent to: ignored');
      return [{ action: 'ignored', reason: `${row.address} was never sent to` }];
    }
    logger.warn(
      { session: mail.sessionId, queueId: row.messageId, recipient: row.address, user, feedbackType: report.feedbackType, reportingMta: report.reportingMta },
      'complaint: recipient reported the mail; address suppressed',
    );
    return [{ action: 'complaint', queueId: row.messageId, recipient: row.address }];
  }

  return {
    async process(mail: InboundMail): Promise<BounceResult[]> {
      const early = withoutToken(mail);
      if (early) return early;
      // A plain-text bounce (qmail, older Exim) is read as a report of its recipient paragraphs.
      const { report } = await reportOrPlainText(mail.raw);
      const token = findToken(mail, report.searchText);
      if (token === 'forged') {
        logger.warn({ session: mail.sessionId, from: mail.mailFrom, rcptTo: mail.rcptTo, kind: report.kind }, 'bounce domain: forged or altered VERP token, report ignored');
        return [{ action: 'ignored', reason: 'forged VERP token' }];
      }
      if (report.kind === 'other') {
        logger.info({ session: mail.sessionId, from: mail.mailFrom, rcptTo: mail.rcptTo, subject: report.subject }, 'bounce domain: neither a delivery report nor a complaint, discarded');
        return [{ action: 'discarded', reason: 'not a report' }];
      }
      if (!token) {
        logger.info({ session: mail.sessionId, from: mail.mailFrom, rcptTo: mail.rcptTo, kind: report.kind }, 'bounce domain: report without a VERP token, discarded');
        return [{ action: 'discarded', reason: 'no VERP token' }];
      }
      if (!(await store.messages.getSummary(token.queueId))) {
        logger.info({ session: mail.sessionId, queueId: token.queueId }, 'bounce domain: report about a message no longer in the queue, discarded');
        return [{ action: 'discarded', reason: 'message no longer known' }];
      }
      return report.kind === 'dsn' ? onDeliveryReport(mail, report, token) : onComplaint(mail, report, token);
    },
  };
}

export type BounceProcessor = ReturnType<typeof createBounceProcessor>;
