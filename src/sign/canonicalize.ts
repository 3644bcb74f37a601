import { parseHeaderFields } from '../core/header-block.js';
import { createHash, type Hash } from 'node:crypto';

/**
 * DKIM "relaxed" canonicalization (RFC 6376 §3.4.2, §3.4.4).
 *
 * The body canonicalizer is a byte state machine that keeps no line in memory: only a count of
 * deferred empty lines and whether whitespace is pending. So memory stays flat whatever the
 * body size or line length (mailauth's hasher keeps a partial line, which grows for a body
 * without line breaks). Bytes are treated as opaque octets, so 8-bit and non-UTF-8 bodies hash
 * exactly as stored.
 */
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CRLF = Buffer.from('\r\n');

export class RelaxedBodyHash {
  private readonly hash: Hash;
  private out = Buffer.allocUnsafe(64 * 1024);
  private outLen = 0;
  /** empty (or whitespace-only) lines not yet emitted: dropped if nothing but empty lines follows */
  private emptyLines = 0;
  private wsp = false;
  private lineHasContent = false;
  private bodyHasContent = false;
  private pendingCr = false;

  constructor(algorithm = 'sha256') {
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.pendingCr) {
        this.pendingCr = false;
        if (b === LF) {
          this.endLine();
          continue;
        }
        this.content(CR); // a bare CR is an ordinary octet
      }
      if (b === CR) this.pendingCr = true;
      else if (b === LF) this.endLine();
      else if (b === SP || b === TAB) this.wsp = true;
      else this.content(b);
    }
  }

  /** base64 body hash; the hasher cannot be used afterwards. */
  digest(): string {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.content(CR);
    }
    // a non-empty body that does not end with CRLF gets one; an empty body hashes as ""
    if (this.lineHasContent) this.endLine();
    this.flush();
    return this.hash.digest('base64');
  }

  private content(b: number): void {
    if (!this.lineHasContent) {
      // the line is not empty after all: earlier empty lines were not trailing
      for (; this.emptyLines > 0; this.emptyLines--) this.bytes(CRLF);
      this.lineHasContent = true;
      this.bodyHasContent = true;
    }
    if (this.wsp) {
      this.byte(SP);
      this.wsp = false;
    }
    this.byte(b);
  }

  private endLine(): void {
    this.wsp = false; // whitespace at the end of a line is ignored
    if (this.lineHasContent) this.bytes(CRLF);
    else this.emptyLines++;
    this.lineHasContent = false;
  }

  private byte(b: number): void {
    if (this.outLen === this.out.length) this.flush();
    this.out[this.outLen++] = b;
  }

  private bytes(buf: Buffer): void {
    for (const b of buf) this.byte(b);
  }

  private flush(): void {
    if (this.outLen > 0) this.hash.update(this.out.subarray(0, this.outLen));
    this.outLen = 0;
  }

  /** true once any non-empty line was seen (tests and diagnostics). */
  get nonEmpty(): boolean {
    return this.bodyHasContent;
  }
}

/** One header field as stored: its name and its raw bytes (folded lines, no final CRLF). */
export interface HeaderField {
  readonly name: string;
  /** lower-case name */
  readonly key: string;
  readonly raw: Buffer;
}

/**
 * Splits a header block (without the blank separator line) into fields, keeping folded lines
 * together: the shared parser's view (src/core/header-block.ts), the same fields intake checked.
 */
export function parseHeaderBlock(block: Buffer): HeaderField[] {
  return parseHeaderFields(block);
}

/** relaxed header canonicalization: lower-case name, unfold, collapse whitespace, trim. */
export function relaxedHeader(raw: Buffer): string {
  const text = raw.toString('latin1');
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  const value = colon < 0 ? '' : text.slice(colon + 1);
  return `${name}:${value.replace(/\r?\n/g, '').replace(/[ \t]+/g, ' ').trim()}`;
}
