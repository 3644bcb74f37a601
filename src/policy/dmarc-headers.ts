import { parseHeaderFields, splitHeader } from '../core/header-block.js';

/**
 * Header helpers for the DMARC guard's rewrite: build the new From / Reply-To values and
 * splice them into a stored header block without touching any other byte.
 */

/** `"Name" <addr>`, or an RFC 2047 encoded-word name when it is not ASCII; bare addr without a name. */
export function formatAddress(name: string | null | undefined, address: string): string {
  const n = (name ?? '').replace(/[\r\n]+/g, ' ').trim();
  if (!n) return address;
  return `${phrase(n)} <${address}>`;
}

function phrase(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(text)) return `"${text.replace(/["\\]/g, '\\$&')}"`;
  // encoded-words are at most 75 characters: 45 bytes of UTF-8 → 60 base64, cut on characters
  const words: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (Buffer.byteLength(cur + ch) > 45) {
      words.push(cur);
      cur = '';
    }
    cur += ch;
  }
  if (cur) words.push(cur);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/** The rewritten From: `"Original Name via BRAND" <rewrite address>`. */
export function rewrittenFrom(originalName: string | null | undefined, originalAddress: string, brand: string, address: string): string {
  const who = (originalName ?? '').trim() || originalAddress;
  return formatAddress(`${who} via ${brand}`, address);
}

/**
 * Replaces the From field of a header block (its folded continuation lines included) with
 * `From: newFrom`, adds `Reply-To: replyTo` right after it unless the message has a Reply-To,
 * and keeps every other byte, including the final blank line if present. Any further From
 * fields are removed: leaving one would keep the forbidden domain in the message. Fields are
 * read by the shared header parser, the one intake's checks and the signer read.
 */
export function rewriteFromHeader(headerBytes: Buffer, newFrom: string, replyTo: string): Buffer {
  const { header, rest } = splitHeader(headerBytes);
  const fields = parseHeaderFields(header);
  const hasReplyTo = fields.some((f) => f.key === 'reply-to');
  const added = Buffer.from(`From: ${newFrom}\r\n${hasReplyTo ? '' : `Reply-To: ${replyTo}\r\n`}`, 'latin1');
  const out: Buffer[] = [];
  let replaced = false;
  for (const f of fields) {
    if (f.key === 'from') {
      if (!replaced) out.push(added);
      replaced = true;
      continue;
    }
    out.push(f.raw, CRLF);
  }
  if (!replaced) out.push(added);
  out.push(rest);
  return Buffer.concat(out);
}

const CRLF = Buffer.from('\r\n');
