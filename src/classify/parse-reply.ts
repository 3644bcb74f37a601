import type { SmtpReply } from '../core/types.js';

/**
 * Reply code at the very start (what `/^#?([1-5]\d\d)(?!\d)/` matches, read by hand: every
 * line of `ferry bounces classify` starts here, and two regex matches with their result arrays
 * cost more than the few character tests). The first digit is limited to 1–5 (the only classes
 * SMTP defines) and the code must not run on into more digits, so "12345 ..." is garbage, not
 * 123. Returns -1 when there is none.
 */
function leadingCode(text: string): number {
  const at = text.charCodeAt(0) === 35 ? 1 : 0; // '#'
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  const c = text.charCodeAt(at + 2) - 48;
  // Written positively: past the end, charCodeAt gives NaN and every comparison is false.
  if (!(a >= 1 && a <= 5 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return -1;
  const d = text.charCodeAt(at + 3);
  if (d >= 48 && d <= 57) return -1;
  return a * 100 + b * 10 + c;
}

/**
 * RFC 3463 code right after a leading reply code (what
 * `/^#?[1-5]\d\d[ \t-]+#?([245]\.[0-7]\.\d{1,3})(?![\d.]*\d)/` matches, by hand): "550 5.1.1",
 * "550-5.1.1", Exchange's "550 #5.1.0". Exchange and Outlook NDRs write the whole reply as
 * "#550 5.1.1 RESOLVER.ADR...; ... ##": the leading '#' is allowed and the closing '##' dropped.
 * Subject is 0–7 by the RFC; details reach three digits in practice (Microsoft's 5.7.606).
 * The trailing guard keeps an IP address ("550 5.1.1.4") from passing as a code: no digit may
 * follow through a run of digits and dots. Call only when leadingCode(text) >= 0.
 */
function leadingEnhanced(text: string): string | null {
  const afterCode = text.charCodeAt(0) === 35 ? 4 : 3;
  let i = afterCode;
  for (let ch = text.charCodeAt(i); ch === 32 || ch === 9 || ch === 45; ch = text.charCodeAt(++i));
  if (i === afterCode) return null;
  if (text.charCodeAt(i) === 35) i++;
  const start = i;
  const cls = text.charCodeAt(i);
  if (!(cls === 50 || cls === 52 || cls === 53)) return null;
  const subject = text.charCodeAt(i + 2);
  if (text.charCodeAt(i + 1) !== 46 || !(subject >= 48 && subject <= 55) || text.charCodeAt(i + 3) !== 46) return null;
  let end = i + 4;
  while (isDigit(text.charCodeAt(end))) end++;
  const detail = end - (i + 4);
  if (detail < 1 || detail > 3) return null;
  for (let k = end, ch = text.charCodeAt(k); ch === 46 || isDigit(ch); ch = text.charCodeAt(++k)) if (ch !== 46) return null;
  return text.slice(start, end);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * The most of a reply the parser and the classifier read (the rules, the model). What decides a bounce is in its first
 * lines; a hostile or broken server's megabyte of text would cost the scanner, the rules' regexes
 * and the model's feature table time (and the collector a live set) for nothing.
 */
export const MAX_CLASSIFIED_CHARS = 16 * 1024;

/**
 * Parses one SMTP reply as read from a remote server, or several reply lines already joined
 * with spaces. Returns null when the input does not start with a reply code.
 */
export function parseReply(whole: string): SmtpReply | null {
  const line = whole.length > MAX_CLASSIFIED_CHARS ? whole.slice(0, MAX_CLASSIFIED_CHARS) : whole;
  // Replies carried with their line breaks are joined the way the pipeline stores them.
  let text = (line.includes('\n') || line.includes('\r') ? joinLines(line) : line).trim();
  // Exchange/Outlook NDR lines: "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##"
  if (text.endsWith('##') && text.startsWith('#')) text = text.slice(0, -2).trimEnd();
  let outerEnhanced: string | null = null;
  let code = leadingCode(text);
  if (code < 0) {
    // The reply quoted inside a report line: Exchange's "#< #5.1.1 smtp;550 5.1.1 ...> #SMTP#"
    // and "Remote Server returned '550 5.1.1 ...'", a DSN's "smtp; 550 ...".
    const unwrapped = unwrap(text);
    if (unwrapped === null) return null;
    text = unwrapped.text;
    outerEnhanced = unwrapped.enhanced;
    code = leadingCode(text);
    // A report that carries only its status ("#< #5.0.0 smtp; 5.1.0 - Unknown address error
    // ...>"): the status class stands for the code, as the pipeline does for a DSN's Status.
    if (code < 0) {
      if (outerEnhanced === null) return null;
      return { code: Number(outerEnhanced[0]) * 100 + 50, enhanced: outerEnhanced, text };
    }
  }
  return { code, enhanced: leadingEnhanced(text) ?? outerEnhanced, text };
}

/** "#< #5.1.1 smtp;" / "#5.1.1 smtp;" / "< #5.0.0 smtp;" before an Exchange report's reply. */
const EXCHANGE_OPEN_RE = /^#?<?\s*#([245]\.[0-7]\.\d{1,3})\s+(?:smtp|x-[\w-]{1,40})\s?;\s?/i;
/**
 * Removes what ends an Exchange report line: "> #SMTP#", ">", "#SMTP#", with the spaces around
 * them. By hand: the regex for it (whitespace, '>', whitespace, end) backtracks quadratically on a
 * long run of spaces, and a remote server chooses this text.
 */
function stripExchangeClose(s: string): string {
  let t = s;
  if (t.length >= 6 && t.slice(-6).toUpperCase() === '#SMTP#') t = t.slice(0, -6);
  t = t.trimEnd();
  if (t.endsWith('>')) t = t.slice(0, -1).trimEnd();
  return t;
}
/** A DSN's "Diagnostic-Code: smtp; " or a bare "smtp; " (the type of the diagnostic). */
const DIAGNOSTIC_TYPE_RE = /^(?:diagnostic-code:\s?)?(?:smtp|x-[\w-]{1,40})\s?;\s?/i;
const REMOTE_RETURNED = 'remote server returned ';

/** The reply inside a known report wrapper, with the wrapper's own status if it has one. */
function unwrap(text: string): { text: string; enhanced: string | null } | null {
  let inner = text;
  let enhanced: string | null = null;
  if (inner.slice(0, REMOTE_RETURNED.length).toLowerCase() === REMOTE_RETURNED) {
    inner = inner.slice(REMOTE_RETURNED.length).trim();
    if (inner.startsWith("'")) inner = inner.slice(1, inner.endsWith("'") ? -1 : undefined).trim();
  }
  const exchange = EXCHANGE_OPEN_RE.exec(inner);
  if (exchange !== null) {
    enhanced = exchange[1]!;
    inner = stripExchangeClose(inner.slice(exchange[0].length));
  } else {
    const diagnostic = DIAGNOSTIC_TYPE_RE.exec(inner);
    if (diagnostic !== null) inner = inner.slice(diagnostic[0].length);
    else if (inner === text) return null;
  }
  inner = inner.trim();
  return inner === '' || inner === text ? null : { text: inner, enhanced };
}

/**
 * Every run of whitespace that holds a line break becomes one space: what replacing the
 * regex `\s*[\r\n]+\s*` did, without its quadratic backtracking on long runs of whitespace (a
 * remote server chooses this text).
 */
export function joinLines(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    if (!isSpace(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let end = i;
    let lineBreak = false;
    for (; end < text.length && isSpace(text.charCodeAt(end)); end++) {
      const c = text.charCodeAt(end);
      if (c === 10 || c === 13) lineBreak = true;
    }
    if (lineBreak) {
      out += `${text.slice(copied, i)} `;
      copied = end;
    }
    i = end;
  }
  return out + text.slice(copied);
}

/** JavaScript's \s (and String.prototype.trim): WhiteSpace and LineTerminator. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * The first stand-alone RFC 3463 code anywhere in a reply, used by the classifier when the
 * reply did not lead with one: "553 Mail from ... - 5.7.1 [BL23]", qmail's "(#5.1.1)". It must
 * stand alone: at the start or after whitespace or one of `(#[:;,`, and not part of an IP address
 * or of a longer dotted number such as Yahoo's "4.16.55.1". What
 * `/(?:^|[\s(#[:;,])([245]\.[0-7]\.\d{1,3})(?![\d.]*\d)/` finds, by hand: the regex tried every
 * position of every reply; this looks only around the dots.
 */
export function findEnhancedCode(text: string): string | null {
  for (let dot = text.indexOf('.', 1); dot >= 0; dot = text.indexOf('.', dot + 1)) {
    const start = dot - 1;
    const cls = text.charCodeAt(start);
    if (!(cls === 50 || cls === 52 || cls === 53)) continue;
    if (start > 0) {
      const before = text.charCodeAt(start - 1);
      if (!(isSpace(before) || before === 40 || before === 35 || before === 91 || before === 58 || before === 59 || before === 44)) continue;
    }
    const subject = text.charCodeAt(dot + 1);
    if (!(subject >= 48 && subject <= 55) || text.charCodeAt(dot + 2) !== 46) continue;
    let end = dot + 3;
    while (isDigit(text.charCodeAt(end))) end++;
    const detail = end - (dot + 3);
    if (detail < 1 || detail > 3) continue;
    let alone = true;
    for (let k = end, ch = text.charCodeAt(k); ch === 46 || isDigit(ch); ch = text.charCodeAt(++k)) {
      if (ch !== 46) {
        alone = false;
        break;
      }
    }
    if (alone) return text.slice(start, end);
  }
  return null;
}
