import type { SmtpReply } from '../core/types.js';

/**
 * Parses one SMTP reply as the SMTP client hands it over ("550-5.1.1 first\r\n550 5.1.1 last").
 * Kept local and tiny on purpose: deliver only records facts; reading meaning into the text is
 * the classifier's job, with its own parser.
 */
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/**
 * The most of a reply that is read. The pipeline keeps 2,000 characters of a reply's text
 * (outcome/decide); nodemailer takes replies up to 1 MiB (an over-long line from a broken server
 * is survived: test/faults/garbage-replies), and a reply of many thousand short lines would
 * otherwise cost one string per line, and the garbage collector's work on that live set grows
 * faster than the reply.
 */
export const MAX_REPLY_READ_CHARS = 16 * 1024;

export function parseReply(whole: string): SmtpReply | null {
  const raw = whole.length > MAX_REPLY_READ_CHARS ? whole.slice(0, MAX_REPLY_READ_CHARS) : whole;
  // One pass with indexOf, no split/map/filter: a hostile server's reply of many short lines
  // made the array pipeline cost superlinear time (garbage of one string per step per line).
  const parts: string[] = [];
  let start = 0;
  while (start <= raw.length) {
    let nl = raw.indexOf('\n', start);
    if (nl < 0) nl = raw.length;
    let end = nl;
    while (end > start && isTrailingSpace(raw.charCodeAt(end - 1))) end--;
    if (end > start) parts.push(raw.slice(start, end));
    start = nl + 1;
  }
  const first = parts[0];
  if (!first) return null;
  const m = /^(\d{3})(?:[ -]|$)/.exec(first);
  if (!m) return null;
  const code = Number(m[1]);
  // the enhanced code is only believed when its class matches the reply's (RFC 3463)
  const rest = first.slice(4).trimStart();
  const e = ENHANCED.exec(rest);
  const enhanced = e && e[1] === String(code)[0] ? `${e[1]}.${e[2]}.${e[3]}` : null;
  return { code, enhanced, text: parts.length === 1 ? first : parts.join(' ') };
}

/** What String.prototype.trimEnd removes, for the characters an SMTP line ends with. */
function isTrailingSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 11 || c === 12 || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0xfeff || (c >= 0x2000 && c <= 0x200a) || c === 0x1680 || c === 0x202f || c === 0x205f || c === 0x3000;
}
