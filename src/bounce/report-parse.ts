import { Headers, Splitter, type MimeNode } from '@zone-eu/mailsplit';
import type { EventEmitter } from 'node:events';

/**
 * Reads what came back to the bounce domain: an RFC 3464 delivery report
 * (`message/delivery-status`, as Postfix, Exim, Exchange, Gmail... send them), an ARF complaint
 * (RFC 5965 `message/feedback-report`), or neither. Parsing only: no decisions here.
 *
 * Anyone on the internet can send here, before any token is checked, so the work is bounded
 * whatever the input: the MIME structure is walked by mailsplit's Splitter (a line-by-line
 * state machine: linear) over at most `mimeMaxBytes` of the message, fed in slices with a
 * yield between them so one report never holds the event loop; only the parts a report needs
 * are kept, each clipped; field blocks go through mailsplit's header parser. No regular
 * expression runs over the body. (mailparser itself is not used here: it decodes every
 * address header of every part, and a 256 KB `To:` inside a part cost 180 ms.)
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
  /** The human-readable part (the first text/plain), clipped to `humanTextMaxChars`; null when there is none. */
  humanText: string | null;
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

export interface ReportParseLimits {
  /** Bytes of the message whose MIME structure is walked (reports put their parts first). */
  mimeMaxBytes: number;
  /** Bytes kept of each part that is read (delivery-status, feedback-report, returned headers, text). */
  partMaxBytes: number;
  /** MIME parts walked before the walk stops. */
  maxParts: number;
  /** Per-recipient blocks read from one delivery-status part. */
  maxRecipients: number;
  humanTextMaxChars: number;
  /** Bytes handed to the splitter between two yields to the event loop. */
  sliceBytes: number;
}

export const REPORT_PARSE_LIMITS: Readonly<ReportParseLimits> = Object.freeze({
  mimeMaxBytes: 128 * 1024,
  partMaxBytes: 64 * 1024,
  maxParts: 64,
  maxRecipients: 100,
  humanTextMaxChars: 2000,
  sliceBytes: 16 * 1024,
});

const STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const FEEDBACK_TYPE = 'message/feedback-report';
const KEPT_TYPES = new Set([...STATUS_TYPES, FEEDBACK_TYPE, 'text/rfc822-headers', 'message/global-headers', 'message/rfc822', 'message/global', 'text/plain']);

/** Field blocks (RFC 822 syntax) split at blank lines, each parsed by mailsplit's header parser. */
function headerBlocks(text: string, maxBlocks: number): Headers[] {
  const out: Headers[] = [];
  let block: string[] = [];
  const close = () => {
    if (block.length > 0) out.push(new Headers(Buffer.from(block.join('\r\n'), 'latin1')));
    block = [];
  };
  let pos = 0;
  while (pos <= text.length && out.length < maxBlocks) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    const line = text.slice(pos, eol > pos && text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol);
    if (line.trim() === '') close();
    else block.push(line);
    pos = eol + 1;
  }
  if (out.length < maxBlocks) close();
  return out;
}

/** The value of a parsed header line: after the first colon, folding removed, trimmed. */
function valueOf(line: string): string {
  const colon = line.indexOf(':');
  return line
    .slice(colon + 1)
    .split('\r\n')
    .map((s) => s.trim())
    .join(' ')
    .trim();
}

function fieldMap(h: Headers): Map<string, string> {
  const fields = new Map<string, string>();
  for (const { key, line } of h.getList()) {
    // The first occurrence wins (Original-Rcpt-To may repeat: gathered separately).
    if (key && line.includes(':') && !fields.has(key)) fields.set(key, valueOf(line));
  }
  return fields;
}

/** Header-like fields (RFC 822 syntax, folded lines joined) split into blocks at blank lines. */
export function fieldBlocks(text: string, maxBlocks = REPORT_PARSE_LIMITS.maxRecipients + 1): Map<string, string>[] {
  return headerBlocks(text, maxBlocks)
    .map(fieldMap)
    .filter((f) => f.size > 0);
}

/** "rfc822; a@b" / "rfc822;<a@b>" / "a@b" → "a@b". */
export function addressOf(value: string | undefined | null): string | null {
  if (!value) return null;
  let s = (value.includes(';') ? value.slice(value.indexOf(';') + 1) : value).trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim();
  return s === '' ? null : s;
}

function typed(value: string | undefined): { type: string | null; text: string | null } {
  if (!value) return { type: null, text: null };
  const i = value.indexOf(';');
  if (i < 0) return { type: null, text: value.trim() };
  return { type: value.slice(0, i).trim().toLowerCase(), text: value.slice(i + 1).trim() };
}

/** "5.1.1" (or a longer value starting with it) → "5.1.1"; anything else → null. */
export function statusOf(value: string | undefined): string | null {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})/.exec((value ?? '').trim().slice(0, 16));
  return m ? m[0] : null;
}

function parseDeliveryStatus(text: string, limits: ReportParseLimits): { reportingMta: string | null; recipients: ReportedRecipient[] } {
  const blocks = fieldBlocks(text, limits.maxRecipients + 1);
  const perMessage = blocks[0] && !blocks[0].has('final-recipient') ? blocks.shift()! : new Map<string, string>();
  const recipients = blocks
    .filter((b) => b.has('final-recipient') || b.has('original-recipient'))
    .slice(0, limits.maxRecipients)
    .map((b): ReportedRecipient => {
      const diag = typed(b.get('diagnostic-code'));
      return {
        finalRecipient: addressOf(b.get('final-recipient')),
        originalRecipient: addressOf(b.get('original-recipient')),
        action: (b.get('action') ?? '').trim().toLowerCase().split(' ')[0] ?? '',
        status: statusOf(b.get('status')),
        diagnosticType: diag.type,
        diagnostic: diag.text,
        remoteMta: typed(b.get('remote-mta')).text,
      };
    });
  return { reportingMta: typed(perMessage.get('reporting-mta')).text, recipients };
}

function parseFeedback(text: string, searchText: string, limits: ReportParseLimits): ComplaintReport {
  const first = headerBlocks(text, 1)[0];
  const fields = first ? fieldMap(first) : new Map<string, string>();
  const rcpts = (first ? first.getList() : [])
    .filter((l) => l.key === 'original-rcpt-to')
    .slice(0, limits.maxRecipients)
    .map((l) => addressOf(valueOf(l.line)))
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

interface KeptPart {
  type: string;
  node: MimeNode;
  chunks: Buffer[];
  size: number;
}

interface Walked {
  rootSubject: string | null;
  parts: KeptPart[];
}

/** Walks the MIME tree of (a prefix of) the message, keeping the first bytes of the parts a report needs. */
async function walk(input: Buffer, limits: ReportParseLimits): Promise<Walked> {
  const splitter = new Splitter({ ignoreEmbedded: true, maxChildNodes: limits.maxParts, maxHeadSize: limits.partMaxBytes });
  const parts: KeptPart[] = [];
  const byNode = new Map<MimeNode, KeptPart>();
  let rootSubject: string | null = null;
  let failed = false;
  splitter.on('data', (data) => {
    if (data.type === 'node') {
      const node = data as unknown as MimeNode;
      if (node.root && node.headers) rootSubject = subjectOf(node.headers);
      const type = (node.contentType || 'text/plain').toLowerCase();
      // A text/plain attachment is not the report's human part.
      if (KEPT_TYPES.has(type) && (type !== 'text/plain' || node.disposition !== 'attachment')) {
        const part = { type, node, chunks: [], size: 0 };
        parts.push(part);
        byNode.set(node, part);
      }
      return;
    }
    if (data.type !== 'body') return;
    const part = byNode.get(data.node as unknown as MimeNode);
    const value = data.value as Buffer;
    if (!part || part.size >= limits.partMaxBytes) return;
    const kept = value.length > limits.partMaxBytes - part.size ? value.subarray(0, limits.partMaxBytes - part.size) : value;
    part.chunks.push(kept);
    part.size += kept.length;
  });
  const events = splitter as unknown as EventEmitter;
  const done = new Promise<void>((resolve) => {
    events.on('end', () => resolve());
    // Too many parts or an oversized part header: keep what was read before it.
    events.on('error', () => {
      failed = true;
      resolve();
    });
  });
  for (let at = 0; at < input.length && !failed; at += limits.sliceBytes) {
    splitter.write(input.subarray(at, at + limits.sliceBytes));
    // A yield between slices: other sessions' events run while a large report is read.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (!failed) splitter.end();
  await done;
  return { rootSubject, parts };
}

function subjectOf(headers: Headers): string | null {
  const value = headers.getFirst('subject').slice(0, 2000);
  if (!value) return null;
  try {
    return (headers as unknown as { libmime: { decodeWords(s: string): string } }).libmime.decodeWords(value).slice(0, 500);
  } catch {
    return value.slice(0, 500);
  }
}

/** The part's bytes with its transfer encoding undone (mailsplit's decoder), as text. */
async function decoded(part: KeptPart): Promise<string> {
  const raw = Buffer.concat(part.chunks, part.size);
  const utf8 = part.type === 'message/global-delivery-status' || part.type === 'message/global' || part.type === 'message/global-headers' || part.type === 'text/plain';
  if (!part.node.encoding || part.node.encoding === '7bit' || part.node.encoding === '8bit' || part.node.encoding === 'binary') {
    return raw.toString(utf8 ? 'utf8' : 'latin1');
  }
  const decoder = part.node.getDecoder();
  const out: Buffer[] = [];
  decoder.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((resolve) => {
    decoder.on('end', () => resolve());
    decoder.on('error', () => resolve());
  });
  decoder.end(raw);
  await ended;
  return Buffer.concat(out).toString(utf8 ? 'utf8' : 'latin1');
}

/**
 * Some report generators put the feedback fields inline, in a multipart/report that has no
 * usable MIME structure: the field block after the `Content-Type: message/feedback-report`
 * line and its blank line. Found with indexOf scans (linear), clipped to partMaxBytes.
 */
function inlineFeedback(text: string, limits: ReportParseLimits): string | null {
  const lower = text.toLowerCase();
  if (!lower.includes('report-type=feedback-report') && !lower.includes('report-type="feedback-report')) return null;
  for (let at = lower.indexOf(FEEDBACK_TYPE); at >= 0; at = lower.indexOf(FEEDBACK_TYPE, at + 1)) {
    const lineStart = lower.lastIndexOf('\n', at) + 1;
    const label = lower.slice(lineStart, at).replace(':', ' ').trim();
    if (label !== 'content-type') continue;
    // The part's own header lines end at the first blank line; the fields follow it.
    let pos = lower.indexOf('\n', at);
    while (pos >= 0) {
      const next = lower.indexOf('\n', pos + 1);
      const line = lower.slice(pos + 1, next < 0 ? lower.length : next);
      if (line.trim() === '') return text.slice(pos + 1, pos + 1 + limits.partMaxBytes);
      pos = next;
    }
    return null;
  }
  return null;
}

/**
 * Parses one inbound message (the raw bytes as received). Never throws on malformed mail.
 * The work is bounded by `limits`; `searchText` holds the raw message and the decoded parts.
 */
export async function parseInboundReport(raw: Buffer, limits: ReportParseLimits = REPORT_PARSE_LIMITS): Promise<InboundReport> {
  const rawText = raw.toString('latin1');
  let walked: Walked;
  try {
    walked = await walk(raw.subarray(0, limits.mimeMaxBytes), limits);
  } catch {
    return { kind: 'other', subject: null, searchText: rawText };
  }
  // The human-readable text is decoded only for a delivery report (its one use).
  const parts = await Promise.all(walked.parts.filter((p) => p.type !== 'text/plain').map(async (p) => ({ type: p.type, text: await decoded(p) })));
  const searchText = [rawText, ...parts.map((p) => p.text)].join('\n');

  const status = parts.find((p) => STATUS_TYPES.has(p.type));
  if (status) {
    const ds = parseDeliveryStatus(status.text, limits);
    if (ds.recipients.length > 0) {
      const human = walked.parts.find((p) => p.type === 'text/plain');
      const text = human ? await decoded(human) : null;
      const humanText = text === null ? null : text.slice(0, limits.humanTextMaxChars).trim();
      return { kind: 'dsn', reportingMta: ds.reportingMta, recipients: ds.recipients, searchText, humanText };
    }
  }
  const feedback = parts.find((p) => p.type === FEEDBACK_TYPE);
  if (feedback) return parseFeedback(feedback.text, searchText, limits);
  const inline = inlineFeedback(raw.subarray(0, limits.mimeMaxBytes).toString('latin1'), limits);
  if (inline !== null) return parseFeedback(inline, searchText, limits);
  return { kind: 'other', subject: walked.rootSubject, searchText };
}
