import { Headers } from '@zone-eu/mailsplit';

/**
 * The one header-block parser. Intake's checks (From/Sender rules, the DMARC guard's facts),
 * the DMARC rewrite and the DKIM signer all read a message's header fields through here, so
 * none of them can see a different set of fields than another; the split is mailsplit's (the
 * parser under mailparser), so it also agrees with what most Node mail software reads.
 *
 * Lines are split at CRLF or bare LF; a bare CR is not a line break here. Intake stores only
 * CRLF line ends (a bare CR or LF becomes CRLF there, src/receive/canonicalize.ts), which is
 * what makes this split the same one the next hop makes.
 *
 * Two quirks of mailsplit's Headers are neutralised: a first line starting "From " or "POST "
 * would be taken for an mbox/HTTP preamble and hidden (but "From : x" is an obsolete-syntax
 * From field some receivers honour), so parsing starts after an anchor line of ours; and a
 * continuation line with no field before it is reported as a field of its own with an empty
 * name (`orphan`), never silently dropped. Every line of the input is in exactly one field:
 * joining the fields' raw bytes with CRLF gives the block back (for CRLF input).
 */
export interface HeaderField {
  /** The field name as written (trimmed); '' for a line without a colon or an orphan continuation. */
  readonly name: string;
  /** lower-case name (mailsplit's key) */
  readonly key: string;
  /** The field's bytes, folded lines included, without the final CRLF. */
  readonly raw: Buffer;
  /** The value: after the first colon, unfolded (line breaks removed), trimmed; latin1 (one char per byte). */
  readonly value: string;
  /** A continuation line that had no field to continue (only possible at the start of a block). */
  readonly orphan: boolean;
}

const ANCHOR = 'X-Ferry-Anchor: 0';
const ANCHOR_BYTES = Buffer.from(`${ANCHOR}\r\n`, 'latin1');

/** Unfolding (RFC 5322 §2.2.3): line breaks removed, the whitespace after them kept; then trimmed. */
export function unfold(text: string): string {
  // Most fields are one line: nothing to remove but the surrounding whitespace.
  if (!text.includes('\n')) return text.trim();
  return text.split('\r\n').join('').split('\n').join('').trim();
}

/**
 * Parses a header block (with or without its final blank line; nothing after the blank line
 * is read: pass the header part only, see `splitHeader`).
 */
export function parseHeaderFields(block: Buffer): HeaderField[] {
  if (block.length === 0) return [];
  const headers = new Headers(Buffer.concat([ANCHOR_BYTES, block]));
  const lines = headers.getList();
  const out: HeaderField[] = [];
  for (let i = 0; i < lines.length; i++) {
    const { key, line } = lines[i]!;
    if (i === 0) {
      // The anchor, plus any continuation lines that stood before the first field.
      const rest = line.slice(ANCHOR.length + 2);
      if (rest.length > 0) out.push(new Field('', '', rest, -1, true));
      continue;
    }
    const colon = line.indexOf(':');
    out.push(new Field(colon < 0 ? '' : line.slice(0, colon).trim(), colon < 0 ? '' : key, line, colon, false));
  }
  return out;
}

/**
 * raw and value are made when first read: a block of 100,000 tiny fields made as many Buffers
 * up front, and their garbage collection grew faster than the block (fuzz-headers time bound).
 */
class Field implements HeaderField {
  private rawBytes: Buffer | null = null;
  private unfolded: string | null = null;
  constructor(
    readonly name: string,
    readonly key: string,
    private readonly line: string,
    private readonly colon: number,
    readonly orphan: boolean,
  ) {}

  get raw(): Buffer {
    this.rawBytes ??= Buffer.from(this.line, 'latin1');
    return this.rawBytes;
  }

  get value(): string {
    this.unfolded ??= this.orphan ? unfold(this.line) : this.colon < 0 ? '' : unfold(this.line.slice(this.colon + 1));
    return this.unfolded;
  }
}

/**
 * Splits stored bytes at the blank line: the header part (each field with its CRLF) and the
 * rest (starting with the blank line, empty when there is none).
 */
export function splitHeader(bytes: Buffer): { header: Buffer; rest: Buffer } {
  if (bytes[0] === 0x0d && bytes[1] === 0x0a) return { header: bytes.subarray(0, 0), rest: bytes };
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return { header: bytes, rest: bytes.subarray(bytes.length) };
  return { header: bytes.subarray(0, end + 2), rest: bytes.subarray(end + 2) };
}

/** The fields' bytes joined back into a block, each line ended with CRLF. */
export function joinHeaderFields(fields: readonly { raw: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) parts.push(f.raw, CRLF);
  return Buffer.concat(parts);
}
const CRLF = Buffer.from('\r\n');
