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
 *
 * Most lines are already canonical (CRLF-terminated, single spaces, no tab, no trailing space):
 * update() finds those with a tight scan and hashes runs of them as they are, without copying;
 * only a line that needs changing goes through the state machine byte by byte. Both give the
 * same bytes (test/sign/canonicalize.test.ts compares them with a reference on random input
 * split at random); on a 100 KB text body the fast path is ~5x cheaper.
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
    const len = chunk.length;
    let i = 0;
    if (this.pendingCr || this.wsp || this.lineHasContent) {
      // a line begun in an earlier chunk: finish it byte by byte
      const lf = chunk.indexOf(LF);
      i = lf < 0 ? len : lf + 1;
      this.slow(chunk, 0, i);
    }
    // From here each line starts in the state the state machine has after a line end.
    /** start of the canonical lines hashed as they are; -1: none */
    let runStart = -1;
    /** start of the empty lines that end the run (deferred: dropped if only empty lines follow); -1: none */
    let runEmpty = -1;
    /** start of the current line */
    let ls = i;
    const endRun = (): void => {
      if (runStart < 0) return;
      this.flush();
      this.hash.update(chunk.subarray(runStart, runEmpty >= 0 ? runEmpty : ls));
      // each empty line of the run is exactly CRLF
      if (runEmpty >= 0) this.emptyLines += (ls - runEmpty) / 2;
      runStart = -1;
      runEmpty = -1;
    };
    while (i < len) {
      const b = chunk[i]!;
      if (b > SP) {
        i++;
        continue;
      }
      if (b === SP) {
        // one space before a content byte is canonical; two, a tab, or a space ending the line is not
        const n = i + 1 < len ? chunk[i + 1]! : -1;
        if (n !== SP && n !== TAB && n !== CR && n !== LF && n !== -1) {
          i += 2;
          continue;
        }
      } else if (b === CR && i + 1 < len && chunk[i + 1] === LF) {
        if (i === ls) {
          // an empty line: part of the run if one is open (its CRLF is deferred), else counted
          if (runStart >= 0) {
            if (runEmpty < 0) runEmpty = ls;
          } else this.emptyLines++;
        } else {
          if (runStart < 0) {
            for (; this.emptyLines > 0; this.emptyLines--) this.bytes(CRLF);
            runStart = ls;
          }
          runEmpty = -1;
          this.bodyHasContent = true;
        }
        i += 2;
        ls = i;
        continue;
      } else if (b !== CR && b !== LF && b !== TAB) {
        // another control byte: ordinary content
        i++;
        continue;
      }
      // This line needs changing (whitespace, a bare CR or LF) or goes on in the next chunk:
      // the state machine takes it from its start.
      endRun();
      const lf = chunk.indexOf(LF, i);
      i = lf < 0 ? len : lf + 1;
      this.slow(chunk, ls, i);
      ls = i;
    }
    endRun();
    // the last line goes on in the next chunk (or ends the body without CRLF)
    if (ls < len) this.slow(chunk, ls, len);
  }

  /** The state machine over chunk[from, to). */
  private slow(chunk: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) {
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
