import { createHash, sign as cryptoSign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import { parseHeaderBlock, relaxedHeader, RelaxedBodyHash, type HeaderField } from './canonicalize.js';
import type { DkimKey, KeySource } from './keys.js';
import type { StoredBodyRef } from '../core/store-types.js';
import { readStoredBody } from '../store/sqlite/stored-bodies.js';

/**
 * DKIM signing over the exact stored bytes, streaming.
 *
 * Why not mailauth's dkimSign: it does stream (a Writable that hashes body chunks), but it
 * cannot oversign (its h= lists only the header instances present), and it stamps t= from
 * Date.now(). The pieces here are small: a streaming relaxed body hash, the h= selection, and
 * node:crypto. Tests verify the result with mailauth's independent verifier.
 */

/** Signed when present; From is listed once more than present so nobody can add another From. */
export const SIGNED_HEADERS = [
  'From',
  'To',
  'Cc',
  'Subject',
  'Date',
  'Message-ID',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Reply-To',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'Sender',
] as const;
const OVERSIGNED = new Set(['from']);

export interface SignerOptions {
  keys: KeySource;
  /** Signs mail from domains without keys of their own (and without a keyed parent); null: don't. */
  defaultDomain?: string | null;
  /** t= comes from here; omit to leave t= out. */
  clock?: Clock;
  /** A header block larger than this is refused rather than buffered. */
  maxHeaderBytes?: number;
  /** Where SignSource inputs are signed (the signing threads); absent: on the calling thread. */
  offload?: SignOffload | null;
}

export interface SignResult {
  /** DKIM-Signature header lines, CRLF-terminated, to prepend to the stored bytes. */
  headers: string;
  /** the d= domain */
  domain: string;
  selectors: string[];
  /**
   * The body, when this signing read it from the store (SignSource.row): handed back (a signing
   * thread transfers it, no copy) so the delivery thread can be given it instead of reading it again.
   */
  body?: Buffer;
}

/**
 * The stored bytes of a message, as plain data (so it can cross to a signing thread): the header
 * block, then either the inline body or the spool file at an absolute path.
 */
export interface SignSource {
  headers: Buffer;
  inline: Buffer | null;
  /** absolute path of the spool file holding the body; null: the body is `inline` */
  file: string | null;
  /** the body left in the store (messages.head): read here, on the signing thread; `inline` is null then */
  row?: StoredBodyRef | null;
}

export interface Signer {
  /**
   * Signs the message (stored bytes, CRLF): a SignSource, or a function yielding its stream
   * (always signed on the calling thread). Returns null when no key applies. The caller
   * prepends `headers` and must change nothing else afterwards.
   */
  sign(fromDomain: string, input: SignSource | (() => NodeJS.ReadableStream)): Promise<SignResult | null>;
}

/** The keys chosen for one message: the d= domain and its keys. */
export interface PickedKeys {
  domain: string;
  keys: readonly DkimKey[];
}

/** Signs elsewhere (a worker thread): same inputs as signPicked, same result. */
export interface SignOffload {
  sign(picked: PickedKeys, source: SignSource, t: number | null, maxHeaderBytes: number): Promise<SignResult>;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export function createSigner(options: SignerOptions): Signer {
  const maxHeaderBytes = options.maxHeaderBytes ?? 1024 * 1024;
  const defaultDomain = options.defaultDomain ? options.defaultDomain.toLowerCase() : null;

  /** exact domain, then each parent (mail.example.com → example.com), then the default domain */
  const pickKeys = async (fromDomain: string): Promise<PickedKeys | null> => {
    const labels = fromDomain.toLowerCase().replace(/\.$/, '').split('.');
    for (let i = 0; i < labels.length - 1; i++) {
      const d = labels.slice(i).join('.');
      const keys = await options.keys.keysFor(d);
      if (keys.length) return { domain: d, keys };
    }
    if (defaultDomain) {
      const keys = await options.keys.keysFor(defaultDomain);
      if (keys.length) return { domain: defaultDomain, keys };
    }
    return null;
  };

  return {
    async sign(fromDomain, input) {
      // Keys are picked here (the key source may read the database); the work is done where
      // offload says, or here.
      const picked = await pickKeys(fromDomain);
      if (!picked) return null;
      const t = options.clock ? Math.floor(options.clock.now() / 1000) : null;
      if (typeof input === 'function') return signPicked(picked, input(), t, maxHeaderBytes);
      if (options.offload) return options.offload.sign(picked, input, t, maxHeaderBytes);
      return signPicked(picked, input, t, maxHeaderBytes);
    },
  };
}

/** The stored bytes of a SignSource as one stream. */
export function sourceStream(source: SignSource): NodeJS.ReadableStream {
  if (source.file === null) return Readable.from([source.inline ? Buffer.concat([source.headers, source.inline]) : source.headers]);
  const file = source.file;
  return Readable.from(
    (async function* () {
      yield source.headers;
      yield* createReadStream(file, { highWaterMark: 256 * 1024 });
    })(),
    { objectMode: false },
  );
}

/**
 * The signing itself, for keys already picked: one read of the message (header block buffered,
 * body hashed as it passes), then one DKIM-Signature per key. Pure apart from reading the input:
 * the signing threads run exactly this.
 */
export async function signPicked(picked: PickedKeys, input: NodeJS.ReadableStream | SignSource, t: number | null, maxHeaderBytes: number): Promise<SignResult> {
  const source = isSignSource(input) ? withBody(input) : null;
  const { headerBlock, bodyHash } = source ? await readSource(source, maxHeaderBytes) : await readMessage(input as NodeJS.ReadableStream, maxHeaderBytes);
  const fields = parseHeaderBlock(headerBlock);
  const { names, canonical } = selectHeaders(fields);
  // RSA first: every receiver knows it; ed25519 is an extra that RFC 8463 receivers prefer
  const keys = [...picked.keys].sort((a, b) => (a.algorithm === b.algorithm ? a.selector.localeCompare(b.selector) : a.algorithm === 'rsa' ? -1 : 1));
  const lines = keys.map((key) => signatureHeader(key, picked.domain, names, canonical, bodyHash, t));
  const result: SignResult = { headers: lines.map((l) => `${l}\r\n`).join(''), domain: picked.domain, selectors: keys.map((k) => k.selector) };
  if (source && isSignSource(input) && input.row && source.inline) result.body = source.inline;
  return result;
}

/** A source whose body was left in the store, with the body read (on this thread, with its own connection). */
function withBody(source: SignSource): SignSource {
  return source.row ? { headers: source.headers, inline: readStoredBody(source.row), file: null } : source;
}

function isSignSource(input: NodeJS.ReadableStream | SignSource): input is SignSource {
  return 'headers' in input && Buffer.isBuffer((input as SignSource).headers);
}

/**
 * A SignSource whose header block ends with its blank line (as intake stores it) is read without
 * joining header block and body: the body (inline bytes or the spool file) goes to the hash as it
 * is. Otherwise it is read as one stream, like any other input. Same result either way: the
 * first blank line of header block + body is the header block's own last one.
 */
async function readSource(source: SignSource, maxHeaderBytes: number): Promise<{ headerBlock: Buffer; bodyHash: string }> {
  const h = source.headers;
  if (h.length < 4 || h.indexOf(HEADER_END) !== h.length - 4) return readMessage(sourceStream(source), maxHeaderBytes);
  const hasher = new RelaxedBodyHash('sha256');
  if (source.file !== null) {
    for await (const chunk of createReadStream(source.file, { highWaterMark: 256 * 1024 })) hasher.update(chunk as Buffer);
  } else if (source.inline) hasher.update(source.inline);
  return { headerBlock: h.subarray(0, h.length - 2), bodyHash: hasher.digest() };
}

/** Reads the stream once: buffers the header block (bounded), hashes the body as it passes. */
async function readMessage(stream: NodeJS.ReadableStream, maxHeaderBytes: number): Promise<{ headerBlock: Buffer; bodyHash: string }> {
  const hasher = new RelaxedBodyHash('sha256');
  let head: Buffer | null = Buffer.alloc(0);
  let headerBlock: Buffer | null = null;
  for await (const piece of stream as AsyncIterable<Buffer | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
    if (headerBlock) {
      hasher.update(chunk);
      continue;
    }
    // search from 3 bytes back so a CRLFCRLF split across chunks is found
    const from = Math.max(0, head!.length - 3);
    head = Buffer.concat([head!, chunk]);
    const at = head.indexOf(HEADER_END, from);
    if (at >= 0) {
      headerBlock = head.subarray(0, at + 2);
      hasher.update(head.subarray(at + 4));
      head = null;
    } else if (head.length > maxHeaderBytes) {
      throw new FerryError('FERRY_ERR_DKIM', `header block exceeds ${maxHeaderBytes} bytes; not signing`, { phase: 'sign' });
    }
  }
  // no blank line: the whole message is headers and the body is empty
  return { headerBlock: headerBlock ?? head!, bodyHash: hasher.digest() };
}

/**
 * The h= list and the canonicalized header data it covers. A name listed n times takes the
 * n bottom-most instances (RFC 6376 §5.4.2); an extra listing of From matches nothing and so
 * forbids a From added later.
 */
function selectHeaders(fields: readonly HeaderField[]): { names: string[]; canonical: string } {
  const names: string[] = [];
  let canonical = '';
  for (const name of SIGNED_HEADERS) {
    const key = name.toLowerCase();
    const present = fields.filter((f) => f.key === key);
    for (let i = present.length - 1; i >= 0; i--) {
      names.push(name);
      canonical += `${relaxedHeader(present[i]!.raw)}\r\n`;
    }
    if (OVERSIGNED.has(key)) names.push(name);
  }
  return { names, canonical };
}

function signatureHeader(
  key: DkimKey,
  domain: string,
  names: readonly string[],
  canonicalHeaders: string,
  bodyHash: string,
  t: number | null,
): string {
  const a = key.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256';
  const tags = [`v=1`, `a=${a}`, `c=relaxed/relaxed`, `d=${domain}`, `s=${key.selector}`];
  if (t !== null) tags.push(`t=${t}`);
  tags.push(`h=${names.join(':')}`, `bh=${bodyHash}`);
  const unsigned = `${fold('DKIM-Signature:', tags)};\r\n\tb=`;
  // the signature header itself is the last input, canonicalized, b= empty, without CRLF
  const data = Buffer.from(canonicalHeaders + relaxedHeader(Buffer.from(unsigned, 'latin1')), 'latin1');
  const signature =
    key.algorithm === 'rsa'
      ? cryptoSign('sha256', data, key.privateKey)
      : cryptoSign(null, createHash('sha256').update(data).digest(), key.privateKey); // RFC 8463: Ed25519 over the SHA-256 digest
  return unsigned + foldBase64(signature.toString('base64'));
}

/** Folds tags onto lines of at most 78 characters (RFC 5322); the h= list may break after a colon. */
function fold(prefix: string, tags: string[]): string {
  const lines: string[] = [];
  let line = prefix;
  for (const tag of tags) {
    const parts = tag.startsWith('h=') ? tag.split(/(?<=:)/) : [tag];
    let first = true;
    for (const part of parts) {
      const sep = first ? (line === prefix ? ' ' : '; ') : '';
      // 76: room for the ';' that may end the line, and the tab that starts the next one
      if (line !== prefix && line.length + sep.length + part.length > 76) {
        lines.push(first ? `${line};` : line);
        line = part;
      } else line += sep + part;
      first = false;
    }
  }
  lines.push(line);
  return lines.join('\r\n\t');
}

function foldBase64(b64: string): string {
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += 72) out.push(b64.slice(i, i + 72));
  return out.join('\r\n\t');
}
