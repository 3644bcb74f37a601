import { isAscii } from 'node:buffer';
/**
 * Turns the DATA stream into the canonical stored form as it passes: bare LF and bare CR become
 * CRLF (STYLE 13; see fixLineEndings), 8-bit bytes are noticed, and the message is split at the blank line. The header
 * block is held in memory (bounded by maxHeaderBytes) because it is stored in the database row
 * and may still be changed by policy (DMARC rewrite) and signing; the body streams on to the
 * spool untouched, so neither of those ever rewrites a large file.
 */
const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);
const CR = Buffer.from('\r');
const LF = Buffer.from('\n');
const CR_BYTE = 0x0d;
const LF_BYTE = 0x0a;

/**
 * Where the first CRLFCRLF starts in held + out (held: at most 3 bytes), without copying `out`:
 * a match that straddles the two starts in `held`, before any match inside `out`, so the few
 * bytes around the seam are searched first.
 */
function blankLineAt(held: Buffer, out: Buffer): number {
  if (held.length > 0) {
    const seam = Buffer.concat([held, out.subarray(0, 3)]);
    const at = seam.indexOf(HEADER_END);
    if (at !== -1) return at;
  }
  const at = out.indexOf(HEADER_END);
  return at === -1 ? -1 : at + held.length;
}

export class Canonicalizer {
  eightBit = false;
  headerTooLarge = false;
  private headersDone = false;
  private headerChunks: Buffer[] = [];
  private headerSize = 0;
  private prevCR = false;
  private lastByte = -1;
  private total = 0;

  constructor(private readonly maxHeaderBytes: number) {}

  /** Feeds one chunk; returns the canonical body bytes it contributes (headers are held). */
  push(chunk: Buffer): Buffer {
    const out = this.fixLineEndings(chunk);
    if (out.length === 0) return EMPTY;
    // Native scan: a byte-by-byte loop in JS dominated intake CPU for multi-megabyte bodies.
    if (!this.eightBit && !isAscii(out)) this.eightBit = true;
    this.total += out.length;
    this.lastByte = out[out.length - 1]!;
    if (this.headersDone) return out;
    // Look for the blank line, allowing it to straddle earlier chunks. The CRLF that ended the
    // DATA command stands before the message, so a message that starts with the blank line
    // (no headers) is found the same way, however its first bytes are split into chunks.
    const held = this.heldTail();
    const idx = blankLineAt(held, out);
    if (idx === -1) {
      this.hold(out);
      return EMPTY;
    }
    const split = idx + 4 - held.length; // the header block keeps its blank line
    this.hold(out.subarray(0, split));
    this.headersDone = true;
    return out.subarray(split);
  }

  /**
   * Ends the stream. Returns the header block (always ending with the blank line; just CRLF for
   * a message without headers) and any bytes to append to the body so the stored message ends
   * with CRLF.
   */
  finish(): { headers: Buffer; bodyTail: Buffer } {
    let bodyTail = EMPTY;
    if (this.total > 0 && this.lastByte !== 0x0a) {
      // A final bare CR only lacks its LF.
      const tail = this.lastByte === CR_BYTE ? LF : CRLF;
      if (this.headersDone) bodyTail = tail;
      else this.hold(tail);
    }
    if (!this.headersDone) {
      // Headers only (or nothing at all): the block still ends with the blank line.
      this.hold(CRLF);
    }
    return { headers: Buffer.concat(this.headerChunks, this.headerSize), bodyTail };
  }

  /** The last 3 bytes held so far, preceded by the CRLF that ended the DATA command. */
  private heldTail(): Buffer {
    const last = this.headerChunks[this.headerChunks.length - 1];
    if (last && last.length >= 3) return last.subarray(last.length - 3);
    return Buffer.concat([CRLF, ...this.headerChunks.slice(-3)]).subarray(-3);
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    if (this.headerSize + part.length > this.maxHeaderBytes) {
      // Keep counting nothing: the message will be refused, memory stays bounded.
      this.headerTooLarge = true;
      this.headerChunks = [];
      this.headerSize = 0;
      this.headersDone = true;
      return;
    }
    this.headerChunks.push(Buffer.from(part));
    this.headerSize += part.length;
  }

  /**
   * Bare LF and bare CR both become CRLF. A bare CR must not survive: the header parsers here
   * do not break lines at it, but the outgoing dot-stuffing (and many receivers) do, so
   * "X-A: 1\rFrom: ceo@bank.test" would be one field when checked and signed, and two when
   * read by the next hop. A CR that ends a chunk waits for the next chunk's first byte.
   */
  private fixLineEndings(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let copied = 0;
    let outLength = 0;
    const insert = (at: number, bytes: Buffer): void => {
      if (at > copied) {
        parts.push(chunk.subarray(copied, at));
        outLength += at - copied;
        copied = at;
      }
      parts.push(bytes);
      outLength += bytes.length;
    };
    if (this.prevCR && chunk[0] !== LF_BYTE) insert(0, LF);
    let nextCr = chunk.indexOf(CR_BYTE);
    let nextLf = chunk.indexOf(LF_BYTE);
    while (nextCr !== -1 || nextLf !== -1) {
      if (nextLf !== -1 && (nextCr === -1 || nextLf < nextCr)) {
        if (!(nextLf === 0 ? this.prevCR : chunk[nextLf - 1] === CR_BYTE)) insert(nextLf, CR);
        nextLf = chunk.indexOf(LF_BYTE, nextLf + 1);
      } else {
        if (nextCr + 1 < chunk.length && chunk[nextCr + 1] !== LF_BYTE) insert(nextCr + 1, LF);
        nextCr = chunk.indexOf(CR_BYTE, nextCr + 1);
      }
    }
    this.prevCR = chunk[chunk.length - 1] === CR_BYTE;
    if (parts.length === 0) return chunk;
    if (copied < chunk.length) {
      parts.push(chunk.subarray(copied));
      outLength += chunk.length - copied;
    }
    return Buffer.concat(parts, outLength);
  }
}
