import { isAscii } from 'node:buffer';
/**
 * Turns the DATA stream into the canonical stored form as it passes: bare LF becomes CRLF
 * (STYLE 13), 8-bit bytes are noticed, and the message is split at the blank line. The header
 * block is held in memory (bounded by maxHeaderBytes) because it is stored in the database row
 * and may still be changed by policy (DMARC rewrite) and signing; the body streams on to the
 * spool untouched, so neither of those ever rewrites a large file.
 */
const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

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
    const joined = held.length ? Buffer.concat([held, out]) : out;
    const idx = joined.indexOf(HEADER_END);
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
      if (this.headersDone) bodyTail = CRLF;
      else this.hold(CRLF);
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

  private fixLineEndings(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    let extra = 0;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
      if (!(i === 0 ? this.prevCR : chunk[i - 1] === 0x0d)) extra++;
    }
    let out = chunk;
    if (extra > 0) {
      out = Buffer.allocUnsafe(chunk.length + extra);
      let j = 0;
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i]!;
        if (c === 0x0a && !(i === 0 ? this.prevCR : chunk[i - 1] === 0x0d)) out[j++] = 0x0d;
        out[j++] = c;
      }
    }
    this.prevCR = chunk[chunk.length - 1] === 0x0d;
    return out;
  }
}
