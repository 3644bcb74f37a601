import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/schema.js';

/**
 * One-click unsubscribe (RFC 8058): the per-recipient token and the headers that carry it.
 *
 * Token: `u1.<payload>.<mac>`, payload = base64url(JSON [queue id, user, recipient]), mac =
 * HMAC-SHA256(secret, "unsub1:" + payload) truncated to 128 bits, base64url. The token is
 * self-contained (it still works after the message has left the queue) and the MAC covers the
 * recipient, the sending user (the suppression's scope) and the message: changing any of them,
 * e.g. to unsubscribe another address with a token one recipient got, fails the check.
 */
export interface OneClickConfig {
  /** HMAC key (keep it secret and stable: changing it invalidates every link already sent). */
  secret: string;
  /** Public https base URL the endpoint is reachable at, without the trailing slash. */
  baseUrl: string;
  /** The mailto: address (on the bounce domain); null: https only. */
  mailto: string | null;
}

export interface UnsubscribeClaim {
  queueId: string;
  /** The SMTP user that sent the message (the suppression's scope); null: sent without AUTH (global). */
  user: string | null;
  recipient: string;
}

const MAC_BYTES = 16;
const PREFIX = 'u1';
/** A token longer than this is refused before any work (payload: a queue id, a user name, an address). */
export const MAX_TOKEN_CHARS = 1024;

export interface OneClick {
  token(claim: UnsubscribeClaim): string;
  /** null: not a token this relay issued (forged, altered, truncated). */
  verify(token: string): UnsubscribeClaim | null;
  /** The URL a click POSTs to. */
  url(token: string): string;
  /** The header lines (CRLF-terminated) to add for one recipient. */
  headers(claim: UnsubscribeClaim): string;
  /** The mailto address, or null. */
  readonly mailto: string | null;
}

export function createOneClick(config: OneClickConfig): OneClick {
  let base = config.baseUrl;
  while (base.endsWith('/')) base = base.slice(0, -1);
  const mac = (payload: string): Buffer => createHmac('sha256', config.secret).update(`unsub1:${payload}`).digest().subarray(0, MAC_BYTES);

  function token(claim: UnsubscribeClaim): string {
    const payload = Buffer.from(JSON.stringify([claim.queueId, claim.user, claim.recipient]), 'utf8').toString('base64url');
    return `${PREFIX}.${payload}.${mac(payload).toString('base64url')}`;
  }

  function verify(t: string): UnsubscribeClaim | null {
    if (typeof t !== 'string' || t.length > MAX_TOKEN_CHARS) return null;
    const parts = t.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return null;
    const [, payload, got] = parts as [string, string, string];
    const want = mac(payload);
    const given = Buffer.from(got, 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
    try {
      const v = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
      if (!Array.isArray(v) || v.length !== 3) return null;
      const [queueId, user, recipient] = v as unknown[];
      if (typeof queueId !== 'string' || typeof recipient !== 'string' || (user !== null && typeof user !== 'string')) return null;
      return { queueId, user, recipient };
    } catch {
      return null;
    }
  }

  const url = (t: string): string => `${base}/unsubscribe?t=${t}`;

  return {
    token,
    verify,
    url,
    mailto: config.mailto,
    headers(claim) {
      const t = token(claim);
      const targets = [`<${url(t)}>`];
      if (config.mailto) targets.push(`<mailto:${config.mailto}?subject=unsubscribe%20${t}>`);
      return `List-Unsubscribe: ${targets.join(',\r\n ')}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n`;
    },
  };
}

/**
 * One-click unsubscribe as configured: off (null) without unsubscribe.baseUrl and secret; the
 * mailto: address only when the bounce-domain listener can receive it (verp and bounceListener).
 */
export function oneClickOf(config: Pick<Config, 'unsubscribe' | 'verp' | 'bounceListener'>): { oneClick: OneClick | null; mailto: string | null } {
  const mailto =
    config.verp.enabled && config.verp.domain && config.bounceListener.listen ? `${config.unsubscribe.mailtoLocalPart}@${config.verp.domain}`.toLowerCase() : null;
  const { baseUrl, secret } = config.unsubscribe;
  return { oneClick: baseUrl && secret ? createOneClick({ secret, baseUrl, mailto }) : null, mailto };
}
