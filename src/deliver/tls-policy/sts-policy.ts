import { parsePolicy } from 'mailauth/lib/mta-sts.js';

/**
 * The two texts of MTA-STS a sender reads, parsed into values: the `_mta-sts` TXT record
 * (RFC 8461 §3.1) and the policy file (§3.2). Parsing never throws: a malformed text is a value
 * saying why, so an attacker-controlled policy cannot crash delivery.
 */
export interface StsPolicy {
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  maxAgeSeconds: number;
}

export type ParsedPolicy = { ok: true; policy: StsPolicy } | { ok: false; error: string };

/** RFC 8461 §3.2: max_age at most 31557600 s (one year). */
export const MAX_AGE_LIMIT_SECONDS = 31_557_600;

export function parseStsPolicy(text: string): ParsedPolicy {
  let raw: { mode?: unknown; mx?: unknown; maxAge?: unknown };
  try {
    raw = parsePolicy(text) as typeof raw;
  } catch (err) {
    return { ok: false, error: `invalid MTA-STS policy: ${err instanceof Error ? err.message : String(err)}` };
  }
  const mode = raw.mode;
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return { ok: false, error: 'invalid MTA-STS policy: mode' };
  const maxAge = raw.maxAge;
  if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_AGE_LIMIT_SECONDS) {
    return { ok: false, error: 'invalid MTA-STS policy: max_age must be a whole number of seconds up to 31557600' };
  }
  const mx = Array.isArray(raw.mx) ? raw.mx.filter((m): m is string => typeof m === 'string' && m.length > 0) : [];
  if (mode !== 'none' && mx.length === 0) return { ok: false, error: 'invalid MTA-STS policy: no mx lines' };
  return { ok: true, policy: { mode, mx, maxAgeSeconds: maxAge } };
}

export type ParsedTxt = { ok: true; id: string } | { ok: false; error: string };

const ID = /^[A-Za-z0-9]{1,32}$/;

/**
 * The policy id from a domain's `_mta-sts` TXT records: exactly one record starting with
 * "v=STSv1" (others ignored, §3.1), whose `id` is 1–32 letters and digits.
 */
export function parseStsTxt(records: readonly string[]): ParsedTxt {
  const sts = records.filter((r) => /^v=STSv1(;|\s|$)/.test(r));
  if (sts.length === 0) return { ok: false, error: 'no v=STSv1 TXT record' };
  if (sts.length > 1) return { ok: false, error: 'more than one v=STSv1 TXT record' };
  let id: string | null = null;
  for (const field of sts[0]!.split(';')) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    const key = field.slice(0, eq).trim().toLowerCase();
    if (key === 'id') id = field.slice(eq + 1).trim();
  }
  if (id === null || !ID.test(id)) return { ok: false, error: 'the v=STSv1 TXT record has no valid id' };
  return { ok: true, id };
}
