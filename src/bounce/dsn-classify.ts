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

/** Sendmail's session transcript: "550 <a@b>... User unknown", one line per failed recipient. */
const TRANSCRIPT_LINE_RE = /^([245]\d\d)[ -]<([^\s<>@]{1,200}@[^\s<>@]{1,255})>\.\.\.[ \t]*(.{0,1000})$/;

/** Where the bounce's own words end and the returned message (or its headers) begins. */
const RETURNED_MESSAGE_RE = /^[ \t]*(?:-{2,}[ \t]*(?:original message|unsent message|this is a copy|message headers|below this line)|message headers follow|original message headers|received: |return-path: )/i;

/** RFC 3464 fields some providers (Amazon WorkMail, …) put in the text part instead of a report part. */
const DSN_FIELD_RE = /^(final-recipient|original-recipient|action|status|diagnostic-code|remote-mta)[ \t]*:[ \t]*(.{0,1000})$/i;

/** The first e-mail address in a text: a local part, '@' and a dotted domain, not a Message-ID. */
function firstAddress(text: string): string | null {
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > 0 && !isAddressStop(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    while (end < text.length && !isAddressStop(text.charCodeAt(end))) end++;
    while (end > at + 1 && text[end - 1] === '.') end--;
    const domain = text.slice(at + 1, end);
    if (start < at && domain.includes('.') && !domain.includes('@')) return text.slice(start, end).toLowerCase();
  }
  return null;
}

function isAddressStop(c: number): boolean {
  // whitespace, quotes, brackets, angle brackets, parentheses, comma, semicolon, colon
  return c <= 32 || c === 34 || c === 39 || c === 40 || c === 41 || c === 44 || c === 58 || c === 59 || c === 60 || c === 62 || c === 91 || c === 93 || c === 96;
}

const quotesReplyCode = (text: string): boolean => EMBEDDED_REPLY_RE.test(text) || BARE_ENHANCED_RE.test(text);

function failed(recipient: string | null, diagnostic: string, status: string | null = null): ReportedRecipient {
  return { finalRecipient: recipient, originalRecipient: null, action: 'failed', status, diagnosticType: 'smtp', diagnostic, remoteMta: null };
}

function plainTextRecipients(fullText: string, fromMailSystem: boolean): ReportedRecipient[] {
  const all = fullText.replace(/\r\n/g, '\n').split('\n');
  const cut = all.findIndex((l) => RETURNED_MESSAGE_RE.test(l));
  const lines = cut > 0 ? all.slice(0, cut) : all;
  const found: (ReportedRecipient & { quotesReply: boolean })[] = [];
  const keep = (recipient: string, excerpt: string) => {
    const quotesReply = quotesReplyCode(excerpt);
    const earlier = found.findIndex((f) => f.finalRecipient === recipient);
    if (earlier >= 0 && (!quotesReply || found[earlier]!.quotesReply)) return;
    const block = { ...failed(recipient, excerpt.slice(0, EXCERPT_CHARS)), quotesReply };
    if (earlier >= 0) found[earlier] = block;
    else found.push(block);
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const transcript = TRANSCRIPT_LINE_RE.exec(line);
    if (transcript !== null) {
      keep(transcript[2]!.toLowerCase(), line.trim());
      continue;
    }
    const m = RECIPIENT_LINE_RE.exec(line);
    if (m === null) continue;
    const body: string[] = m[2] === undefined ? [] : [m[2]];
    let j = i + 1;
    for (; j < lines.length && lines[j]!.trim() !== '' && !RECIPIENT_LINE_RE.test(lines[j]!); j++) body.push(lines[j]!.trim());
    i = j - 1;
    if (body.length === 0) {
      // The address alone in its paragraph (Gmail, Google Groups): the reason is in the next
      // paragraphs, up to the first that quotes a reply code.
      let k = j;
      for (let paragraphs = 0; paragraphs < 3 && k < lines.length; paragraphs++) {
        while (k < lines.length && lines[k]!.trim() === '') k++;
        if (k >= lines.length || RECIPIENT_LINE_RE.test(lines[k]!)) break;
        const start = body.length;
        for (; k < lines.length && lines[k]!.trim() !== ''; k++) body.push(lines[k]!.trim());
        if (quotesReplyCode(body.slice(start).join(' '))) break;
      }
    }
    if (body.length === 0) continue;
    keep(m[1]!.toLowerCase(), body.join(' '));
  }
  if (found.length > 0) return found.map(({ quotesReply: _, ...r }) => r);
  // The looser readings below would find a "recipient" in any mail that quotes an address and
  // a number; they are only tried on mail that says it comes from a mail system.
  if (!fromMailSystem) return [];
  return textDsnFields(lines) ?? firstReplyParagraph(lines);
}

/** RFC 3464 fields written into the text: one recipient per Final-Recipient. */
function textDsnFields(lines: readonly string[]): ReportedRecipient[] | null {
  const out: ReportedRecipient[] = [];
  let current: ReportedRecipient | null = null;
  for (const line of lines) {
    const m = DSN_FIELD_RE.exec(line.trim());
    if (m === null) continue;
    const name = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (name === 'final-recipient' || (name === 'original-recipient' && current?.finalRecipient)) {
      current = failed(firstAddress(value), '');
      current.diagnostic = null;
      out.push(current);
    } else if (current !== null) {
      if (name === 'status') current.status = /^[245]\.\d{1,3}\.\d{1,3}$/.test(value) ? value : current.status;
      else if (name === 'action') current.action = value.toLowerCase();
      else if (name === 'diagnostic-code') {
        const semi = value.indexOf(';');
        current.diagnosticType = semi > 0 ? value.slice(0, semi).trim().toLowerCase() : null;
        current.diagnostic = (semi > 0 ? value.slice(semi + 1) : value).trim() || null;
      } else if (name === 'remote-mta') current.remoteMta = value.slice(value.indexOf(';') + 1).trim() || null;
    }
  }
  const failedOnes = out.filter((r) => r.action === 'failed' || r.action === 'delayed');
  return failedOnes.length > 0 ? failedOnes : null;
}

/**
 * Last resort for a bounce that names its recipient inside a sentence ("There was an error
 * delivering your mail to <a@b>.", DragonFly) or not at all (old Sendmail transcripts): the
 * first paragraph quoting a reply code is the reason, the first address before it (or in it)
 * the recipient.
 */
function firstReplyParagraph(lines: readonly string[]): ReportedRecipient[] {
  const paragraphs: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line.trim() === '') {
      if (current.length > 0) paragraphs.push(current.join(' '));
      current = [];
    } else current.push(line.trim());
  }
  if (current.length > 0) paragraphs.push(current.join(' '));
  const i = paragraphs.findIndex((p) => quotesReplyCode(p));
  if (i < 0) return [];
  const reason = paragraphs[i]!;
  const before = paragraphs.slice(Math.max(0, i - 2), i).join(' ');
  return [failed(firstAddress(before) ?? firstAddress(reason), reason.slice(0, EXCERPT_CHARS))];
}

/**
 * A bounce without RFC 3464 fields read as a delivery report: each recipient paragraph of its
 * text becomes a failed recipient whose diagnostic is that paragraph. Null when no paragraph
 * names a recipient (the mail is no bounce). The bounce processor and the CLI both use it.
 */
export async function plainTextReport(raw: Buffer, searchText: string): Promise<DeliveryReport | null> {
  const { text, fromMailSystem } = await plainTextOf(raw);
  const recipients = plainTextRecipients(text, fromMailSystem);
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

/** Senders that mail systems use for their reports (RFC 5321's MAILER-DAEMON, postmaster, …). */
const MAIL_SYSTEM_SENDER_RE = /^(?:mailer-daemon|mail-daemon|mailer|postmaster|mmdf|double-bounce|mail delivery (?:system|subsystem))$/i;
/** Subjects of delivery reports, in the languages the corpus has. */
const REPORT_SUBJECT_RE = /undeliver|deliver(?:y|ed)|returned mail|failure|failed|bounce|non remis|unzustellbar|zustellung|no entregado|non recapitabile|エラー|不達|退信|退回|rejected/i;

async function plainTextOf(raw: Buffer): Promise<{ text: string; fromMailSystem: boolean }> {
  try {
    const parsed = await simpleParser(raw.subarray(0, PLAIN_TEXT_MAX_BYTES), { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    const from = parsed.from?.value[0];
    const local = from?.address?.split('@')[0] ?? '';
    const fromMailSystem = MAIL_SYSTEM_SENDER_RE.test(local) || MAIL_SYSTEM_SENDER_RE.test(from?.name ?? '') || REPORT_SUBJECT_RE.test(parsed.subject ?? '');
    return { text: parsed.text ?? '', fromMailSystem };
  } catch {
    return { text: '', fromMailSystem: false };
  }
}

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
