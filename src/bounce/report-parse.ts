import { simpleParser } from 'mailparser';

/**
 * Reads what came back to the bounce domain: an RFC 3464 delivery report
 * (`message/delivery-status`, as Postfix, Exim, Exchange, Gmail... send them), an ARF complaint
 * (RFC 5965 `message/feedback-report`), or neither. Parsing only: no decisions here.
 */

/** One per-recipient block of a delivery report. */
export interface ReportedRecipient {
  /** Final-Recipient's address ("rfc822; a@b" → "a@b"). */
  finalRecipient: string | null;
  originalRecipient: string | null;
  /** failed | delayed | delivered | relayed | expanded (lower-case). */
  action: string;
  /** RFC 3463 status ("5.1.1"), when well-formed. */
  status: string | null;
  /** The Diagnostic-Code's type ("smtp", "x-postfix") and text. */
  diagnosticType: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
}

export interface DeliveryReport {
  kind: 'dsn';
  reportingMta: string | null;
  recipients: ReportedRecipient[];
  /** Text to look for VERP addresses in: the whole report, decoded parts included. */
  searchText: string;
}

export interface ComplaintReport {
  kind: 'complaint';
  feedbackType: string;
  userAgent: string | null;
  reportingMta: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string[];
  sourceIp: string | null;
  searchText: string;
}

export interface OtherMail {
  kind: 'other';
  subject: string | null;
  searchText: string;
}

export type InboundReport = DeliveryReport | ComplaintReport | OtherMail;

/** Header-like fields (RFC 822 syntax, folded lines joined) split into blocks at blank lines. */
export function fieldBlocks(text: string): Map<string, string>[] {
  const unfolded = text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ');
  return unfolded
    .split(/\n[ \t]*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const name = line.slice(0, i).trim().toLowerCase();
        // The first occurrence wins (Original-Rcpt-To may repeat: gathered separately).
        if (!fields.has(name)) fields.set(name, line.slice(i + 1).trim());
      }
      return fields;
    })
    .filter((f) => f.size > 0);
}

/** "rfc822; a@b" / "rfc822;<a@b>" / "a@b" → "a@b". */
export function addressOf(value: string | undefined | null): string | null {
  if (!value) return null;
  const v = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const s = v.trim().replace(/^<(.*)>$/, '$1').trim();
  return s === '' ? null : s;
}

function typed(value: string | undefined): { type: string | null; text: string | null } {
  if (!value) return { type: null, text: null };
  const i = value.indexOf(';');
  if (i < 0) return { type: null, text: value.trim() };
  return { type: value.slice(0, i).trim().toLowerCase(), text: value.slice(i + 1).trim() };
}

function parseDeliveryStatus(text: string): { reportingMta: string | null; recipients: ReportedRecipient[] } {
  const blocks = fieldBlocks(text);
  const perMessage = blocks[0] && !blocks[0].has('final-recipient') ? blocks.shift()! : new Map<string, string>();
  const recipients = blocks
    .filter((b) => b.has('final-recipient') || b.has('original-recipient'))
    .map((b): ReportedRecipient => {
      const diag = typed(b.get('diagnostic-code'));
      const status = /^([245])\.(\d{1,3})\.(\d{1,3})/.exec(b.get('status') ?? '');
      return {
        finalRecipient: addressOf(b.get('final-recipient')),
        originalRecipient: addressOf(b.get('original-recipient')),
        action: (b.get('action') ?? '').trim().toLowerCase().split(/\s/)[0] ?? '',
        status: status ? status[0] : null,
        diagnosticType: diag.type,
        diagnostic: diag.text,
        remoteMta: typed(b.get('remote-mta')).text,
      };
    });
  return { reportingMta: typed(perMessage.get('reporting-mta')).text, recipients };
}

function parseFeedback(text: string, searchText: string): ComplaintReport {
  const fields = fieldBlocks(text)[0] ?? new Map<string, string>();
  const rcpts = [...text.replace(/\r\n/g, '\n').matchAll(/^original-rcpt-to:[ \t]*(.+)$/gim)]
    .map((m) => addressOf(m[1]))
    .filter((a): a is string => a !== null);
  const removal = addressOf(fields.get('removal-recipient'));
  if (rcpts.length === 0 && removal) rcpts.push(removal);
  return {
    kind: 'complaint',
    feedbackType: (fields.get('feedback-type') ?? 'abuse').toLowerCase(),
    userAgent: fields.get('user-agent') ?? null,
    reportingMta: typed(fields.get('reporting-mta')).text,
    originalMailFrom: addressOf(fields.get('original-mail-from')),
    originalRcptTo: rcpts,
    sourceIp: fields.get('source-ip') ?? null,
    searchText,
  };
}

/** Parses one inbound message (the raw bytes as received). Never throws on malformed mail. */
export async function parseInboundReport(raw: Buffer): Promise<InboundReport> {
  const rawText = raw.toString('latin1');
  let parsed;
  try {
    parsed = await simpleParser(raw, { keepDeliveryStatus: true, skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  } catch {
    return { kind: 'other', subject: null, searchText: rawText };
  }
  const parts = parsed.attachments.map((a) => ({ type: a.contentType.toLowerCase(), text: a.content.toString('utf8') }));
  const searchText = [rawText, ...parts.map((p) => p.text)].join('\n');

  const status = parts.find((p) => p.type === 'message/delivery-status' || p.type === 'message/global-delivery-status');
  if (status) {
    const ds = parseDeliveryStatus(status.text);
    if (ds.recipients.length > 0) return { kind: 'dsn', reportingMta: ds.reportingMta, recipients: ds.recipients, searchText };
  }
  const feedback = parts.find((p) => p.type === 'message/feedback-report');
  if (feedback) return parseFeedback(feedback.text, searchText);
  // Some report generators put the fields inline (no attachment): look in the raw text.
  if (/report-type="?feedback-report/i.test(rawText)) {
    const m = /content-type:\s*message\/feedback-report[^\n]*\n(?:[^\n]*\n)*?\r?\n([\s\S]*?)(?:\r?\n--)/i.exec(rawText);
    if (m?.[1]) return parseFeedback(m[1], searchText);
  }
  return { kind: 'other', subject: parsed.subject ?? null, searchText };
}
