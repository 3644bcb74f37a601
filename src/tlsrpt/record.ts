import { parseAddress } from '../policy/addresses.js';

/**
 * The `_smtp._tls.<domain>` TXT record (RFC 8460 §3): "v=TLSRPTv1; rua=mailto:a@b,https://c/d".
 * Untrusted input from anyone's DNS: parsed by splitting, bounded in size, and every URI checked
 * (mailto: one usable address; https: a URL Node parses with an https scheme).
 */

export type RuaUri = { kind: 'mailto'; uri: string; address: string; domain: string } | { kind: 'https'; uri: string; url: URL };

export type TlsRptRecordResult =
  | { ok: true; rua: RuaUri[]; ignored: string[] }
  | { ok: false; reason: string };

/** A record longer than this is not a TLS-RPT record anyone needs (and is not read). */
export const MAX_RECORD_CHARS = 4096;
/** Report destinations used at most, in the record's order. */
export const MAX_RUA = 10;

const VERSION = 'v=TLSRPTv1';
const WSP = new Set([' ', '\t']);

function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && WSP.has(s[a]!)) a++;
  while (b > a && WSP.has(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** tlsrpt-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
function isFieldName(s: string): boolean {
  if (s.length < 1 || s.length > 32) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (alnum) continue;
    if (i > 0 && (c === 0x5f || c === 0x2d || c === 0x2e)) continue;
    return false;
  }
  return true;
}

/** One rua URI, or why it is not used. */
export function parseRuaUri(raw: string): { ok: true; uri: RuaUri } | { ok: false; reason: string } {
  const uri = trimWsp(raw);
  const colon = uri.indexOf(':');
  const scheme = colon > 0 ? uri.slice(0, colon).toLowerCase() : '';
  if (scheme === 'mailto') {
    // RFC 6068: the address before any "?", percent-encoded; one address only (a report goes to each URI once).
    const q = uri.indexOf('?', colon + 1);
    let target: string;
    try {
      target = decodeURIComponent(uri.slice(colon + 1, q < 0 ? uri.length : q));
    } catch {
      return { ok: false, reason: `bad percent-encoding in ${uri}` };
    }
    if (target.includes(',')) return { ok: false, reason: `more than one address in ${uri}` };
    const parsed = parseAddress(target);
    if (!parsed) return { ok: false, reason: `not a usable address in ${uri}` };
    return { ok: true, uri: { kind: 'mailto', uri, address: parsed.address, domain: parsed.domain } };
  }
  if (scheme === 'https') {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return { ok: false, reason: `not a URL: ${uri}` };
    }
    if (url.protocol !== 'https:' || !url.hostname || url.username || url.password) return { ok: false, reason: `not a usable https URL: ${uri}` };
    return { ok: true, uri: { kind: 'https', uri, url } };
  }
  return { ok: false, reason: `unsupported scheme in ${uri || '(empty)'} (only mailto: and https:)` };
}

/** Parses one TXT record's text. */
export function parseTlsRptRecord(text: string): TlsRptRecordResult {
  if (text.length > MAX_RECORD_CHARS) return { ok: false, reason: `record longer than ${MAX_RECORD_CHARS} characters` };
  const fields = text.split(';').map(trimWsp);
  if (fields[0] !== VERSION) return { ok: false, reason: 'does not start with v=TLSRPTv1' };
  // A trailing ";" is allowed (field-delim at the end), an empty field elsewhere is not.
  if (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  let ruaValue: string | null = null;
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `malformed field "${field.slice(0, 40)}"` };
    const name = field.slice(0, eq);
    if (!isFieldName(name)) return { ok: false, reason: `malformed field name "${name.slice(0, 40)}"` };
    if (name === 'rua') {
      if (ruaValue !== null) return { ok: false, reason: 'more than one rua field' };
      ruaValue = field.slice(eq + 1);
    }
    // Other names are extensions (RFC 8460 §3): ignored.
  }
  if (ruaValue === null) return { ok: false, reason: 'no rua field' };
  const rua: RuaUri[] = [];
  const ignored: string[] = [];
  for (const part of ruaValue.split(',')) {
    const r = parseRuaUri(part);
    if (!r.ok) ignored.push(r.reason);
    else if (rua.length >= MAX_RUA) ignored.push(`more than ${MAX_RUA} destinations: ${r.uri.uri} not used`);
    else if (!rua.some((u) => u.uri === r.uri.uri)) rua.push(r.uri);
  }
  if (rua.length === 0) return { ok: false, reason: `no usable rua destination${ignored.length ? ` (${ignored.join('; ')})` : ''}` };
  return { ok: true, rua, ignored };
}

/**
 * The domain's policy from all TXT records at `_smtp._tls.<domain>`: records not starting with
 * "v=TLSRPTv1" are discarded; anything but exactly one left means the domain takes no reports.
 */
export function selectTlsRptRecord(records: readonly string[]): TlsRptRecordResult {
  const candidates = records.filter((r) => r.startsWith(VERSION));
  if (candidates.length === 0) return { ok: false, reason: 'no v=TLSRPTv1 record' };
  if (candidates.length > 1) return { ok: false, reason: `${candidates.length} v=TLSRPTv1 records (exactly one is allowed)` };
  return parseTlsRptRecord(candidates[0]!);
}
