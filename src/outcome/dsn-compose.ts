import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';
import { encodeWords } from 'nodemailer/lib/mime-funcs';

/**
 * Pure: builds an RFC 3464 delivery status notification (`multipart/report;
 * report-type=delivery-status`) for one original message and the recipients that failed.
 * Three parts: a plain-words explanation per recipient, the machine-readable
 * `message/delivery-status`, and the original message's header block (`text/rfc822-headers`).
 */

export type DsnKind = 'bounced' | 'expired' | 'dropped' | 'delivered' | 'relayed' | 'delayed';

/** Kinds that report a failure (RFC 3461 NOTIFY=FAILURE, the default when NOTIFY is absent). */
export const FAILURE_KINDS: ReadonlySet<DsnKind> = new Set(['bounced', 'expired', 'dropped']);

export interface DsnRecipient {
  address: string;
  kind: DsnKind;
  /** Bounce category (DESIGN.md vocabulary, or `complaint`/`manual` for suppression entries). */
  category: string | null;
  /** The remote reply (or Ferry's own reason) recorded for the recipient. */
  reply: string | null;
  code: number | null;
  enhanced: string | null;
  /** The MX host that gave the reply, when one did. */
  remoteMta: string | null;
  lastAttemptAt: number | null;
  /** Dropped recipients: when the address went on the suppression list. */
  suppressedAt?: number | null;
  /** Expired because this relay lost the message's stored body (a disk fault), not for time. */
  bodyLost?: boolean;
  /** RFC 3461 ORCPT ("type;address"), reported as Original-Recipient. */
  orcpt?: string | null;
  /** Expired because an admin purged it from the queue (console), not for time. */
  purged?: boolean;
}

export interface DsnOriginal {
  queueId: string;
  arrivalAt: number;
  sender: string;
  messageIdHeader: string | null;
  subject: string | null;
  /** The original header block as stored (CRLF, ending with the blank line). */
  headers: Buffer;
  /** RFC 3461 ENVID, reported as Original-Envelope-Id. */
  envid?: string | null;
  /**
   * The whole message (headers and body) when the sender asked for it (RET=FULL) and it is
   * within the size cap: returned instead of the headers in a report that carries a failure.
   */
  full?: Buffer | null;
}

export interface DsnInput {
  /** Reporting MTA: Ferry's hostname. */
  hostname: string;
  /** The DSN's own Message-ID (without brackets). */
  messageId: string;
  /** MIME boundary (unique per DSN). */
  boundary: string;
  now: number;
  /** The retry window, for the words about expired recipients. */
  maxAgeHours: number;
  original: DsnOriginal;
  recipients: DsnRecipient[];
}

export interface ComposedDsn {
  /** Header block, CRLF, ending with the blank line. */
  headers: Buffer;
  body: Buffer;
  subject: string;
  from: string;
  /** true when the body carries 8-bit bytes (from the original headers). */
  eightBit: boolean;
}

/** Original headers beyond this are cut at a line boundary: the report is about the message, not a copy of it. */
export const MAX_ORIGINAL_HEADER_BYTES = 64 * 1024;

const CATEGORY_WORDS: Record<string, string> = {
  user_unknown: 'the address does not exist: check it for typos.',
  domain_invalid: 'the domain does not exist or does not accept mail: check the part after the @ for typos.',
  mailbox_disabled: 'the mailbox has been disabled or closed: reach the recipient another way.',
  mailbox_full: 'the mailbox is full: try again later or reach them another way.',
  rate_limited: 'the receiving server refused to take more mail from us for now: send it again later.',
  blocked:
    'the receiving server blocked mail from this relay (its address or domain is on a block list or has a poor reputation). The address itself is probably fine: tell your mail admin.',
  spam_content: 'the receiving server judged the message to be spam or to carry a virus: change the content, or ask your mail admin.',
  policy:
    'the receiving server refused the message on policy grounds (for example SPF, DKIM or DMARC failed, or it requires TLS). The address itself is probably fine: tell your mail admin.',
  message_too_large: 'the message is too large for the receiving server: send it smaller (share big attachments as links).',
  temporary: 'the receiving server kept asking us to try again later.',
  other: 'the receiving server refused the message: its reply is below.',
};

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The plain-words sentence for one recipient. */
export function explain(r: DsnRecipient, maxAgeHours: number, arrivalAt = 0): string {
  if (r.kind === 'delivered') return 'delivered: the receiving server accepted the message.';
  if (r.kind === 'relayed') {
    return 'relayed: the next server accepted the message and supports delivery notifications, so any further report comes from it.';
  }
  if (r.kind === 'delayed') {
    const words = CATEGORY_WORDS[r.category ?? 'temporary'] ?? CATEGORY_WORDS.temporary!;
    return `not delivered yet, still trying until ${rfc5322Date(arrivalAt + maxAgeHours * 3_600_000)} (no action needed): ${words}`;
  }
  if (r.kind === 'dropped') {
    const when = r.suppressedAt ? ` on ${day(r.suppressedAt)}` : '';
    if (r.category === 'complaint') {
      return `this address is on the suppression list because the recipient reported mail as spam${when}: do not send to it again unless they ask for it.`;
    }
    if (r.category === 'manual') {
      return `this address is on the suppression list because an admin put it there${when}: ask your admin if it should be removed.`;
    }
    return `this address is on the suppression list because it bounced${when}: ask your admin to remove it once the recipient has fixed their mailbox.`;
  }
  if (r.bodyLost) {
    return 'the relay lost its stored copy of your message before it could be delivered (a fault on our side, not the recipient\'s): please send it again.';
  }
  if (r.purged) {
    return `the relay's administrator removed your message from the delivery queue before it could be delivered${r.reply ? ` (last reply: ${r.reply})` : ''}: contact them, or send it again later.`;
  }
  const words = CATEGORY_WORDS[r.category ?? 'other'] ?? CATEGORY_WORDS.other!;
  if (r.kind === 'expired') {
    const days = maxAgeHours / 24;
    const span = Number.isInteger(days) ? `${days} day${days === 1 ? '' : 's'}` : `${maxAgeHours} hours`;
    return `could not be delivered for ${span}, so we gave up: ${words}`;
  }
  return words;
}

/** RFC 3464 Status for a recipient: its enhanced code, else one derived from the category or code. */
export function statusCode(r: DsnRecipient): string {
  if (r.kind === 'delivered' || r.kind === 'relayed') return r.enhanced && /^2\.\d{1,3}\.\d{1,3}$/.test(r.enhanced) ? r.enhanced : '2.0.0';
  if (r.kind === 'delayed') {
    if (r.enhanced && /^4\.\d{1,3}\.\d{1,3}$/.test(r.enhanced)) return r.enhanced;
    return r.category === 'mailbox_full' ? '4.2.2' : '4.0.0';
  }
  if (r.kind === 'dropped') return '5.7.1';
  // 5.3.0: "other or undefined mail system status" — the relay's own storage failed.
  if (r.bodyLost) return '5.3.0';
  if (r.enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(r.enhanced)) {
    // A DSN reports a failure: a final 2.x.x would contradict "Action: failed".
    return r.enhanced.startsWith('2') ? `5${r.enhanced.slice(1)}` : r.enhanced;
  }
  switch (r.category) {
    case 'user_unknown':
      return '5.1.1';
    case 'domain_invalid':
      return '5.1.2';
    case 'mailbox_disabled':
      return '5.2.1';
    case 'mailbox_full':
      return r.kind === 'expired' ? '4.2.2' : '5.2.2';
    case 'message_too_large':
      return '5.3.4';
    case 'spam_content':
    case 'blocked':
    case 'policy':
      return '5.7.1';
    default:
      if (r.kind === 'expired') return '4.4.7';
      return r.code && r.code >= 400 && r.code < 500 ? '4.0.0' : '5.0.0';
  }
}

/** Printable ASCII only (DSN fields are header-like; a reply is the remote's to choose). */
function ascii(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim();
}

/** Folds a header-like field at spaces so no line exceeds 78 characters where it can be helped. */
export function fold(line: string, width = 78): string {
  if (line.length <= width) return line;
  const out: string[] = [];
  let rest = line;
  while (rest.length > width) {
    let cut = rest.lastIndexOf(' ', width);
    if (cut <= 0) cut = rest.indexOf(' ', width);
    if (cut <= 0) break;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut + 1);
    rest = ` ${rest}`;
  }
  out.push(rest);
  return out.join('\r\n');
}

function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

function addressType(address: string): string {
  return /^[\x20-\x7e]*$/.test(address) ? `rfc822; ${address}` : `utf-8; ${address}`;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Cuts a header block at a line boundary (never inside a folded header) and ends it with CRLF. */
export function truncateHeaders(headers: Buffer, max = MAX_ORIGINAL_HEADER_BYTES): Buffer {
  let block = headers;
  // Without the blank line that ends the block.
  while (block.length >= 4 && block.subarray(block.length - 4).equals(CRLF2)) block = block.subarray(0, block.length - 2);
  if (block.length <= max) return block;
  let cut = block.lastIndexOf('\r\n', max - 2);
  // Step back over continuation lines so a folded header is kept whole or not at all.
  while (cut > 0 && (block[cut + 2] === 0x20 || block[cut + 2] === 0x09)) cut = block.lastIndexOf('\r\n', cut - 1);
  return cut > 0 ? block.subarray(0, cut + 2) : Buffer.alloc(0);
}

function humanText(input: DsnInput): string {
  const o = input.original;
  const lines: string[] = [];
  lines.push(`This is the mail system at ${input.hostname}.`);
  lines.push('');
  const n = input.recipients.length;
  if (input.recipients.every((r) => FAILURE_KINDS.has(r.kind))) {
    lines.push(
      n === 1
        ? 'Your message could not be delivered to the recipient below.'
        : `Your message could not be delivered to the ${n} recipients below.`,
    );
  } else {
    lines.push(`You asked to be told what became of your message${o.envid ? ` (envelope id ${ascii(o.envid)})` : ''}. Its status for each recipient:`);
  }
  lines.push('');
  if (o.subject) lines.push(`  Subject: ${o.subject}`);
  lines.push(`  Sent:    ${rfc5322Date(o.arrivalAt)}`);
  if (o.messageIdHeader) lines.push(`  Message-ID: ${o.messageIdHeader}`);
  lines.push(`  Queue ID: ${o.queueId}`);
  lines.push('');
  for (const r of input.recipients) {
    lines.push(`<${r.address}>: ${explain(r, input.maxAgeHours, o.arrivalAt)}`);
    if (r.reply) {
      const who = r.remoteMta ? `The server ${r.remoteMta} said` : r.kind === 'dropped' ? 'Recorded reason' : 'Reason';
      lines.push(`    ${who}: ${r.reply}`);
    }
    lines.push('');
  }
  lines.push(o.full && input.recipients.some((r) => FAILURE_KINDS.has(r.kind)) ? 'The technical report and your message are attached.' : 'The technical report and the headers of your message are attached.');
  return `${lines.join('\r\n')}\r\n`;
}

function deliveryStatus(input: DsnInput): string {
  const o = input.original;
  const fields: string[] = [];
  if (o.envid) fields.push(`Original-Envelope-Id: ${ascii(o.envid)}`);
  fields.push(`Reporting-MTA: dns; ${input.hostname}`);
  fields.push(`X-Ferry-Queue-ID: ${o.queueId}`);
  fields.push(`Arrival-Date: ${rfc5322Date(o.arrivalAt)}`);
  const blocks = [fields.join('\r\n')];
  for (const r of input.recipients) {
    const f: string[] = [];
    if (r.orcpt) f.push(`Original-Recipient: ${ascii(r.orcpt)}`);
    f.push(`Final-Recipient: ${addressType(r.address)}`);
    f.push(`Action: ${FAILURE_KINDS.has(r.kind) ? 'failed' : r.kind}`);
    f.push(`Status: ${statusCode(r)}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${ascii(r.remoteMta)}`);
    if (r.reply) {
      const smtp = r.code !== null && r.kind !== 'dropped';
      f.push(fold(`Diagnostic-Code: ${smtp ? 'smtp' : 'X-Ferry'}; ${ascii(r.reply)}`));
    }
    if (r.lastAttemptAt) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    // Final reports (failed) carry no Will-Retry-Until: that field belongs to delay notices.
    if (r.kind === 'delayed') f.push(`Will-Retry-Until: ${rfc5322Date(o.arrivalAt + input.maxAgeHours * 3_600_000)}`);
    if (r.category) f.push(`X-Ferry-Category: ${r.category}`);
    blocks.push(f.join('\r\n'));
  }
  return `${blocks.join('\r\n\r\n')}\r\n`;
}

export function composeDsn(input: DsnInput): ComposedDsn {
  const o = input.original;
  const from = `MAILER-DAEMON@${input.hostname}`;
  const allDropped = input.recipients.every((r) => r.kind === 'dropped');
  const failed = input.recipients.some((r) => FAILURE_KINDS.has(r.kind));
  const subject = !failed
    ? input.recipients.every((r) => r.kind === 'delayed')
      ? 'Delayed Mail (still being retried)'
      : input.recipients.some((r) => r.kind === 'delayed')
        ? 'Delivery Status Notification (Delay)'
        : 'Delivery Status Notification (Success)'
    : allDropped
    ? 'Undelivered Mail: recipient on the suppression list'
    : input.recipients.every((r) => r.kind === 'expired' && !r.bodyLost && !r.purged)
      ? 'Undelivered Mail: delivery time expired'
      : 'Undelivered Mail Returned to Sender';
  const fullSubject = o.subject ? `${subject}: ${o.subject}` : subject;
  const b = input.boundary;

  const head: string[] = [
    `From: Mail Delivery System <${from}>`,
    `To: <${o.sender}>`,
    fold(`Subject: ${encodeWords(fullSubject.replace(/[\r\n\t]+/g, ' '), 'Q', 52)}`),
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.messageId}>`,
  ];
  if (o.messageIdHeader && /^<[^<>\s]+>$/.test(o.messageIdHeader.trim())) {
    head.push(`In-Reply-To: ${o.messageIdHeader.trim()}`, `References: ${o.messageIdHeader.trim()}`);
  }
  head.push(
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${b}"`,
  );
  const headers = Buffer.from(`${head.join('\r\n')}\r\n\r\n`);

  // RFC 3461 §4.3: the whole message only for a report of failure (RET=FULL); else the headers.
  const full = failed && o.full ? o.full : null;
  const original = full ?? truncateHeaders(o.headers);
  const text = qpWrap(qpEncode(Buffer.from(humanText(input), 'utf8')), 76);
  const parts: Buffer[] = [
    Buffer.from(
      'This is a MIME-encapsulated delivery status notification.\r\n\r\n' +
        `--${b}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n` +
        `${text.replace(/\r?\n/g, '\r\n')}\r\n` +
        `--${b}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n` +
        deliveryStatus(input) +
        (full
          ? `\r\n--${b}\r\nContent-Description: Undelivered message\r\nContent-Type: message/rfc822\r\n\r\n`
          : `\r\n--${b}\r\nContent-Description: ${failed ? 'Undelivered message headers' : 'Message headers'}\r\nContent-Type: text/rfc822-headers\r\n\r\n`),
    ),
    original,
    Buffer.from(`\r\n--${b}--\r\n`),
  ];
  const body = Buffer.concat(parts);
  return { headers, body, subject: fullSubject, from, eightBit: original.some((c) => c > 0x7f) };
}
