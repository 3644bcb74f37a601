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
 * fields are removed: leaving one would keep the forbidden domain in the message.
 */
export function rewriteFromHeader(headerBytes: Buffer, newFrom: string, replyTo: string): Buffer {
  // latin1 maps bytes 1:1 to code units, so 8-bit headers survive the round trip unchanged
  const text = headerBytes.toString('latin1');
  const lines = text.split(/(?<=\n)/);
  const hasReplyTo = lines.some((l) => /^reply-to\s*:/i.test(l));
  const newLines = `From: ${newFrom}\r\n${hasReplyTo ? '' : `Reply-To: ${replyTo}\r\n`}`;
  const out: string[] = [];
  let inFrom = false;
  let replaced = false;
  let bodySeparator = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '\r\n' || line === '\n') {
      bodySeparator = i;
      break;
    }
    const continuation = line[0] === ' ' || line[0] === '\t';
    if (continuation && inFrom) continue;
    inFrom = !continuation && /^from\s*:/i.test(line);
    if (inFrom) {
      if (!replaced) out.push(newLines);
      replaced = true;
      continue;
    }
    out.push(line);
  }
  if (!replaced) {
    // no From at all: add one at the end of the block (a trailing line without CRLF gets one)
    if (out.length && !out[out.length - 1]!.endsWith('\n')) out.push('\r\n');
    out.push(newLines);
  }
  if (bodySeparator >= 0) out.push(lines.slice(bodySeparator).join(''));
  return Buffer.from(out.join(''), 'latin1');
}
