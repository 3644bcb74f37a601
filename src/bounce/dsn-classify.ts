import { simpleParser } from 'mailparser';
import type { Classification, Classifier, SmtpReply } from '../core/types.js';
import { parseInboundReport, type DeliveryReport, type InboundReport, type ReportedRecipient } from './report-parse.js';
import { parseReply } from '../classify/parse-reply.js';

/**
 * Whole bounce messages, not only reply lines: finds what a delivery report says about each
 * recipient (RFC 3464 fields, else the human-readable part) and classifies it. Parsing of the
 * report itself is report-parse's; this file only turns its fields into a reply the classifier
 * reads, so the bounce processor and `ferry bounces classify --eml` decide the same way.
 */

/**
 * A reply code inside a longer text: "host x said: 550 5.1.1 ...", Exchange's "#550 5.1.1 ... ##"
 * and "Remote Server returned '550 5.1.1 ...'", qmail's "remote host said: 550 ...". The code
 * must stand alone (not part of a number, a date or an address).
 */
const EMBEDDED_REPLY_RE = /(?:^|[\s'"(:#<])([245]\d\d)(?:[ -]+#?([245]\.\d{1,3}\.\d{1,3}))?(?=[\s'")\]:;,-]|$)/;

/** qmail's "(#5.1.1)" and similar: an enhanced code alone, when no reply code was given. */
const BARE_ENHANCED_RE = /(?:^|[\s(#[])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/;

function replyCodeOfStatus(status: string | null | undefined): number {
  const cls = status?.[0];
  return cls === '4' ? 450 : cls === '2' ? 250 : 550;
}

/**
 * One line of SMTP-ish text as the classifier's reply. A text that starts with a reply code is
 * parsed as is (Exchange's leading '#' and trailing '##' removed); otherwise the first embedded
 * reply code gives the code, then the status, then the class of a bare enhanced code; the text
 * is kept whole so the classifier still reads every word of it.
 */
export function replyFromText(raw: string, status: string | null = null): SmtpReply {
  const collapsed = raw.replace(/\s+/g, ' ').trim().replace(/^#(?=[245]\d\d\b)/, '');
  // The trailing '##' goes with an endsWith test: the regex \s*##\s*$ backtracks over whitespace runs.
  const text = collapsed.endsWith('##') ? collapsed.slice(0, -2).trimEnd() : collapsed;
  const parsed = parseReply(text);
  if (parsed !== null) return parsed.enhanced !== null || status === null ? parsed : { ...parsed, enhanced: status };
  const embedded = EMBEDDED_REPLY_RE.exec(text);
  if (embedded !== null) {
    return { code: Number(embedded[1]), enhanced: embedded[2] ?? status, text };
  }
  if (status !== null) return { code: replyCodeOfStatus(status), enhanced: status, text };
  const bare = BARE_ENHANCED_RE.exec(text);
  if (bare !== null) return { code: replyCodeOfStatus(bare[1]), enhanced: `${bare[1]}.${bare[2]}.${bare[3]}`, text };
  // A report that failed the recipient without any code: a refusal of unknown kind.
  return { code: 550, enhanced: null, text };
}

/**
 * The reply a report carries for one recipient. The Diagnostic-Code is the remote server's own
 * words when there is one; without it, the human-readable part (when the report parser gives
 * it) is the only text; with neither, the Status field alone decides.
 */
export function replyOfReported(r: ReportedRecipient, humanText: string | null = null): SmtpReply {
  if (r.diagnostic) {
    if (r.diagnosticType === 'smtp' || r.diagnosticType === null) return replyFromText(r.diagnostic, r.status);
    // X-Postfix, X-Unix...: the text is the reporting MTA's, the status is the only code.
    const embedded = EMBEDDED_REPLY_RE.exec(r.diagnostic);
    if (embedded !== null) return replyFromText(r.diagnostic, r.status);
    return { code: replyCodeOfStatus(r.status), enhanced: r.status, text: [r.status, r.diagnostic].filter(Boolean).join(' ') };
  }
  if (humanText) {
    const excerpt = humanExcerpt(humanText, r.finalRecipient ?? r.originalRecipient);
    if (excerpt !== null) return replyFromText(excerpt, r.status);
  }
  const code = replyCodeOfStatus(r.status);
  return { code, enhanced: r.status, text: [String(code), r.status].filter(Boolean).join(' ') };
}

/** Up to this many characters of the human-readable part are read for one recipient. */
const EXCERPT_CHARS = 1000;

/**
 * The paragraph of a human-readable bounce that speaks about one recipient (the one naming the
 * address and the following one), or the first paragraph that carries a reply code.
 */
function humanExcerpt(human: string, address: string | null): string | null {
  const paragraphs = human.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/).map((p) => p.trim()).filter((p) => p !== '');
  if (address !== null) {
    const lower = address.toLowerCase();
    const i = paragraphs.findIndex((p) => p.toLowerCase().includes(lower));
    if (i >= 0) {
      const here = paragraphs[i]!;
      // qmail and Exim put the address alone on a line and the reason in what follows.
      const joined = here.length < 200 && i + 1 < paragraphs.length ? `${here} ${paragraphs[i + 1]}` : here;
      return joined.slice(0, EXCERPT_CHARS);
    }
  }
  const withCode = paragraphs.find((p) => EMBEDDED_REPLY_RE.test(p));
  return withCode === undefined ? null : withCode.slice(0, EXCERPT_CHARS);
}

export interface RecipientVerdict {
  recipient: string | null;
  action: string;
  status: string | null;
  remoteMta: string | null;
  reply: SmtpReply;
  classification: Classification;
}

export type BounceMessageVerdict =
  | { kind: 'dsn'; reportingMta: string | null; recipients: RecipientVerdict[] }
  | { kind: 'complaint'; feedbackType: string; recipients: string[] }
  | { kind: 'other'; recipients: RecipientVerdict[] };

/** Classifies every recipient block of a parsed delivery report. */
export function classifyReport(report: DeliveryReport, classifier: Classifier, humanText: string | null = null): RecipientVerdict[] {
  return report.recipients.map((r) => {
    const reply = replyOfReported(r, humanText);
    return {
      recipient: r.finalRecipient ?? r.originalRecipient,
      action: r.action,
      status: r.status,
      remoteMta: r.remoteMta,
      reply,
      classification: classifier.classify({ kind: 'reply', reply }),
    };
  });
}

/**
 * A bounce without RFC 3464 fields names each failed address at the start of a line, then
 * says why: qmail ("<a@b>:" alone, then "Remote host said: 550 ..."), Postfix's text part
 * ("<a@b>: host x said: 550 ..."), Exim and GMX ("  a@b" or "\"a@b\":" then "SMTP error ..."),
 * Microsoft 365 ("a@b" alone, then "Remote Server returned '550 5.1.10 ...'"). An address named
 * twice keeps the paragraph that quotes the remote server's reply.
 */
const RECIPIENT_LINE_RE = /^(?:[ \t]{2,}|<|")?([^\s@<>"]+@[^\s@<>"]+?)(?:<mailto:[^>]*>)?[>"]?:?(?:[ \t]+(\S.*))?$/;

function plainTextRecipients(text: string): ReportedRecipient[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const found: (ReportedRecipient & { quotesReply: boolean })[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = RECIPIENT_LINE_RE.exec(lines[i]!);
    if (m === null) continue;
    const body: string[] = m[2] === undefined ? [] : [m[2]];
    let j = i + 1;
    for (; j < lines.length && lines[j]!.trim() !== '' && !RECIPIENT_LINE_RE.test(lines[j]!); j++) body.push(lines[j]!.trim());
    i = j - 1;
    if (body.length === 0) continue;
    const excerpt = body.join(' ').slice(0, EXCERPT_CHARS);
    const quotesReply = EMBEDDED_REPLY_RE.test(excerpt) || BARE_ENHANCED_RE.test(excerpt);
    const recipient = m[1]!.toLowerCase();
    const earlier = found.findIndex((f) => f.finalRecipient === recipient);
    if (earlier >= 0 && (!quotesReply || found[earlier]!.quotesReply)) continue;
    const block = {
      finalRecipient: recipient,
      originalRecipient: null,
      action: 'failed',
      status: null,
      diagnosticType: 'smtp',
      diagnostic: excerpt,
      remoteMta: null,
      quotesReply,
    };
    if (earlier >= 0) found[earlier] = block;
    else found.push(block);
  }
  return found.map(({ quotesReply: _, ...r }) => r);
}

/**
 * A bounce without RFC 3464 fields read as a delivery report: each recipient paragraph of its
 * text becomes a failed recipient whose diagnostic is that paragraph. Null when no paragraph
 * names a recipient (the mail is no bounce). The bounce processor and the CLI both use it.
 */
export async function plainTextReport(raw: Buffer, searchText: string): Promise<DeliveryReport | null> {
  const text = await plainText(raw);
  const recipients = plainTextRecipients(text);
  return recipients.length === 0 ? null : { kind: 'dsn', reportingMta: null, recipients, searchText, humanText: text.slice(0, 2000).trim() };
}

/** A parsed report, or for a message that is none, what its plain text says (when anything). */
export async function reportOrPlainText(raw: Buffer): Promise<{ report: InboundReport; plain: boolean }> {
  const report = await parseInboundReport(raw);
  if (report.kind !== 'other') return { report, plain: false };
  const plain = await plainTextReport(raw, report.searchText);
  return plain === null ? { report, plain: false } : { report: plain, plain: true };
}

/** The message's text/plain part, for reports whose parser gives no human-readable text. */
const PLAIN_TEXT_MAX_BYTES = 128 * 1024;

async function plainText(raw: Buffer): Promise<string> {
  try {
    // Bounded like the report parser (issue 11): a plain-text bounce says what it has to say in
    // its first part, and HTML-to-text conversion over hostile markup is not worth its cost.
    const parsed = await simpleParser(raw.subarray(0, PLAIN_TEXT_MAX_BYTES), { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    return parsed.text ?? '';
  } catch {
    return '';
  }
}

/**
 * Reads one bounce message and classifies each recipient it reports. Delivery reports come
 * from their message/delivery-status part; a plain-text bounce (qmail, older Exim) from the
 * recipient paragraphs of its body; a complaint is named, not classified.
 */
export async function classifyBounceMessage(raw: Buffer, classifier: Classifier): Promise<BounceMessageVerdict> {
  const { report, plain } = await reportOrPlainText(raw);
  if (report.kind === 'complaint') return { kind: 'complaint', feedbackType: report.feedbackType, recipients: report.originalRcptTo };
  if (report.kind === 'other') return { kind: 'other', recipients: [] };
  if (plain) return { kind: 'other', recipients: classifyReport(report, classifier) };
  const given = (report as { humanText?: unknown }).humanText;
  const needsHuman = report.recipients.some((r) => !r.diagnostic);
  const human = typeof given === 'string' ? given : needsHuman ? await plainText(raw) : null;
  return { kind: 'dsn', reportingMta: report.reportingMta, recipients: classifyReport(report, classifier, human) };
}
