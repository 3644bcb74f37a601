import type { SmtpReply } from '../core/types.js';

/**
 * Reply code at the very start. The first digit is limited to 1–5 (the only classes SMTP
 * defines) and the code must not run on into more digits, so "12345 ..." is garbage, not 123.
 */
const CODE_RE = /^#?([1-5]\d\d)(?![\d])/;

/**
 * RFC 3463 code right after the reply code: "550 5.1.1", "550-5.1.1", Exchange's "550 #5.1.0".
 * Exchange and Outlook NDRs write the whole reply as "#550 5.1.1 RESOLVER.ADR...; ... ##": the
 * leading '#' is allowed and the closing '##' dropped.
 * Subject is 0–7 by the RFC; details reach three digits in practice (Microsoft's 5.7.606).
 * The trailing guard keeps an IP address ("550 5.1.1.4") from passing as a code.
 */
const LEADING_ENHANCED_RE = /^#?[1-5]\d\d[ \t-]+#?([245]\.[0-7]\.\d{1,3})(?![\d.]*\d)/;

/**
 * An RFC 3463 code anywhere in the text, for replies that put it later ("553 Mail from ... -
 * 5.7.1 [BL23]", qmail's "(#5.1.1)"). It must stand alone: not part of an IP address or of a
 * longer dotted number such as Yahoo's "4.16.55.1".
 */
const ANY_ENHANCED_RE = /(?:^|[\s(#[:;,])([245]\.[0-7]\.\d{1,3})(?![\d.]*\d)/;

/**
 * Parses one SMTP reply as read from a remote server, or several reply lines already joined
 * with spaces. Returns null when the input does not start with a reply code.
 */
export function parseReply(line: string): SmtpReply | null {
  // Replies carried with their line breaks are joined the way the pipeline stores them.
  let text = (line.includes('\n') || line.includes('\r') ? joinLines(line) : line).trim();
  // Exchange/Outlook NDR lines: "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##"
  if (text.endsWith('##') && text.startsWith('#')) text = text.slice(0, -2).trimEnd();
  let outerEnhanced: string | null = null;
  let codeMatch = CODE_RE.exec(text);
  if (codeMatch === null) {
    // The reply quoted inside a report line: Exchange's "#< #5.1.1 smtp;550 5.1.1 ...> #SMTP#"
    // and "Remote Server returned '550 5.1.1 ...'", a DSN's "smtp; 550 ...".
    const unwrapped = unwrap(text);
    if (unwrapped === null) return null;
    text = unwrapped.text;
    outerEnhanced = unwrapped.enhanced;
    codeMatch = CODE_RE.exec(text);
    // A report that carries only its status ("#< #5.0.0 smtp; 5.1.0 - Unknown address error
    // ...>"): the status class stands for the code, as the pipeline does for a DSN's Status.
    if (codeMatch === null) {
      if (outerEnhanced === null) return null;
      return { code: Number(outerEnhanced[0]) * 100 + 50, enhanced: outerEnhanced, text };
    }
  }
  const enhancedMatch = LEADING_ENHANCED_RE.exec(text);
  return {
    code: Number(codeMatch[1]),
    enhanced: enhancedMatch === null ? outerEnhanced : enhancedMatch[1]!,
    text,
  };
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
 * reply did not lead with one.
 */
export function findEnhancedCode(text: string): string | null {
  const m = ANY_ENHANCED_RE.exec(text);
  return m === null ? null : m[1]!;
}
