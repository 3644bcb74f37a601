import addressparser from 'nodemailer/lib/addressparser';
import { parseHeaderFields, type HeaderField } from '../core/header-block.js';
import type { AddressHeaderFacts, HeaderFacts, Mailbox } from '../core/message-check.js';

/**
 * An address header longer than this is not handed to the address parser past this point
 * (its cost grows with the input: a 1 MB To: took 450 ms); a restricted user's From or Sender
 * that long is refused.
 */
export const ADDRESS_HEADER_MAX_CHARS = 4096;

/** Unfolds and splits a header block into [name, value] pairs, in order (the shared parser's view). */
export function parseHeaderLines(block: Buffer): [string, string][] {
  return parseHeaderFields(block)
    .filter((f) => f.key !== '')
    .map((f) => [f.key, f.value]);
}

function addressFacts(fields: readonly HeaderField[], key: string): AddressHeaderFacts {
  const matching = fields.filter((f) => f.key === key);
  const first = matching[0];
  if (!first) return { count: 0, mailboxes: [], group: false, tooLong: false, outsideAt: 0, outsideAngle: 0 };
  const tooLong = first.value.length > ADDRESS_HEADER_MAX_CHARS;
  // Header bytes may be UTF-8 (RFC 6532): decode for the address parser.
  const value = Buffer.from(first.value.slice(0, ADDRESS_HEADER_MAX_CHARS), 'latin1').toString('utf8');
  const { mailboxes, group } = parseMailboxes(value);
  return { count: matching.length, mailboxes: [...mailboxes], group, tooLong, ...outsideSigns(value) };
}

interface ParsedMailboxes {
  mailboxes: readonly Mailbox[];
  group: boolean;
}

/**
 * The address parser's reading of a header value, remembered: an application sends from the same
 * From value message after message, and on a relay that has not run long the parser (a tokenizer
 * run in baseline code) was the largest single cost of reading the headers (bench/RESULTS.md,
 * warm13). The reading depends on the value alone; values up to ADDRESS_HEADER_MAX_CHARS, at most
 * PARSED_CACHE_MAX of them (emptied when full), results frozen.
 */
const parsedCache = new Map<string, ParsedMailboxes>();
const PARSED_CACHE_MAX = 512;

function parseMailboxes(value: string): ParsedMailboxes {
  const known = parsedCache.get(value);
  if (known) return known;
  const parsed = addressparser(value) as { address?: string; name?: string; group?: unknown[] }[];
  let group = false;
  const mailboxes: Mailbox[] = [];
  for (const p of parsed) {
    if (Array.isArray(p.group)) {
      group = true;
      for (const g of p.group as { address?: string; name?: string }[]) mailboxes.push(Object.freeze({ address: g.address ?? '', name: g.name || null }));
    } else mailboxes.push(Object.freeze({ address: p.address ?? '', name: p.name || null }));
  }
  const result: ParsedMailboxes = Object.freeze({ mailboxes: Object.freeze(mailboxes), group });
  if (parsedCache.size >= PARSED_CACHE_MAX) parsedCache.clear();
  parsedCache.set(value, result);
  return result;
}

/** Counts '@' and '<' outside "quoted strings" (with \\ escapes) and (nested (comments)); linear. */
export function outsideSigns(value: string): { outsideAt: number; outsideAngle: number } {
  let quoted = false;
  let comment = 0;
  let outsideAt = 0;
  let outsideAngle = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && (quoted || comment > 0)) i++;
    else if (quoted) quoted = c !== '"';
    else if (c === '(') comment++;
    else if (comment > 0) comment -= c === ')' ? 1 : 0;
    else if (c === '"') quoted = true;
    else if (c === '@') outsideAt++;
    else if (c === '<') outsideAngle++;
  }
  return { outsideAt, outsideAngle };
}

export function readHeaderFacts(block: Buffer): HeaderFacts {
  const fields = parseHeaderFields(block);
  const first = (key: string) => fields.find((f) => f.key === key)?.value ?? null;
  const from = addressFacts(fields, 'from');
  const withAddress = from.mailboxes.find((m) => m.address);
  const subject = first('subject');
  return {
    fromAddress: withAddress?.address ?? null,
    fromName: withAddress?.name ?? null,
    fromCount: from.count,
    from,
    sender: addressFacts(fields, 'sender'),
    orphanContinuation: fields.some((f) => f.orphan),
    messageId: first('message-id'),
    subject: subject ? Buffer.from(subject.slice(0, 2000), 'latin1').toString('utf8').slice(0, 500) : null,
  };
}
