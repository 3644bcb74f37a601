import { createHmac, timingSafeEqual } from 'node:crypto';
import { FerryError } from '../core/errors.js';
import type { Config } from '../config/schema.js';

/**
 * VERP return paths: `LOCALPART+TOKEN@DOMAIN`, TOKEN = `<queue id>-<recipient id>-<mac>`,
 * all lower case (some MTAs lower-case the local part of a return path).
 *
 * - queue id: the message's id (base36 time + hex), lower-cased;
 * - recipient id: base36, or `0` when the SMTP transaction carried several recipients — Ferry
 *   sends one transaction per message and destination, so VERP does not multiply transactions;
 *   then the report's Final-Recipient (or Original-Recipient) picks the recipient among the
 *   message's own recipients, and a single-recipient message needs neither;
 * - mac: HMAC-SHA256(secret, "verp1:<QUEUE ID>:<recipient id>") truncated to 80 bits, base32
 *   (16 characters). Checked in constant time: a forged or altered token is ignored.
 *
 * The local part stays under 64 characters (8 + 21 + 1 + ≤8 + 1 + 16).
 */
export interface VerpConfig {
  domain: string;
  secret: string;
  localPart: string;
}

export interface VerpToken {
  queueId: string;
  /** null: the transaction carried several recipients. */
  recipientId: number | null;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const MAC_BYTES = 10;

function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function mac(secret: string, queueId: string, rid: string): string {
  return base32(createHmac('sha256', secret).update(`verp1:${queueId.toUpperCase()}:${rid}`).digest().subarray(0, MAC_BYTES));
}

export function createVerp(config: VerpConfig) {
  const domain = config.domain.toLowerCase();
  const prefix = `${config.localPart.toLowerCase()}+`;
  const tokenRe = new RegExp(`${escapeRe(prefix)}([0-9a-z]{1,40}-[0-9a-z]{1,12}-[a-z2-7]{16})@${escapeRe(domain)}`, 'gi');

  function decodeToken(token: string): VerpToken | null {
    const parts = token.toLowerCase().split('-');
    if (parts.length !== 3) return null;
    const [qid, rid, got] = parts as [string, string, string];
    if (!/^[0-9a-z]{1,40}$/.test(qid) || !/^[0-9a-z]{1,12}$/.test(rid) || !/^[a-z2-7]{16}$/.test(got)) return null;
    const want = Buffer.from(mac(config.secret, qid, rid));
    if (!timingSafeEqual(want, Buffer.from(got))) return null;
    const n = parseInt(rid, 36);
    return { queueId: qid.toUpperCase(), recipientId: n > 0 ? n : null };
  }

  /** The return path for a message (and its recipient, when the transaction has only one). */
  function address(queueId: string, recipientId: number | null): string {
    const rid = recipientId && recipientId > 0 ? recipientId.toString(36) : '0';
    return `${prefix}${queueId.toLowerCase()}-${rid}-${mac(config.secret, queueId, rid)}@${domain}`;
  }

  return {
    domain,
    address,
    /**
     * The MAIL FROM for one transaction: the VERP address, naming the recipient when the
     * transaction has only one. A null sender stays null (DSNs), so reports never loop.
     */
    envelopeSender(message: { id: string; sender: string; kind: string }, rows: readonly { id: number }[]): string {
      if (message.sender === '' || message.kind === 'dsn') return message.sender;
      return address(message.id, rows.length === 1 ? rows[0]!.id : null);
    },
    /** true when the address is at the bounce domain (whatever its local part). */
    isBounceDomain(address: string): boolean {
      return address.slice(address.lastIndexOf('@') + 1).toLowerCase() === domain;
    },
    /**
     * The token of an address at the bounce domain. `null` when it carries none; `'forged'` when
     * it has the shape of a token but the MAC does not check out.
     */
    parse(address: string): VerpToken | null | 'forged' {
      const at = address.lastIndexOf('@');
      if (at < 0 || address.slice(at + 1).toLowerCase() !== domain) return null;
      const local = address.slice(0, at).toLowerCase();
      if (!local.startsWith(prefix)) return null;
      return decodeToken(local.slice(prefix.length)) ?? 'forged';
    },
    /** Every VERP address found in a text (returned headers, ARF fields), in order. */
    findIn(text: string): string[] {
      return [...text.matchAll(tokenRe)].map((m) => m[0]);
    },
  };
}

export type Verp = ReturnType<typeof createVerp>;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * VERP return paths as configured: null when off. The bounce-domain listener needs them (without
 * a VERP token no report can be trusted), so a listener configured without them stops the start.
 */
export function verpOf(config: Pick<Config, 'verp' | 'bounceListener'>): Verp | null {
  const { enabled, domain, secret, localPart } = config.verp;
  const verp = enabled && domain && secret ? createVerp({ domain, secret, localPart }) : null;
  if (config.bounceListener.listen && !verp) {
    throw new FerryError('FERRY_ERR_CONFIG', 'bounceListener.listen needs verp.enabled (with verp.domain and verp.secret): without VERP tokens no report can be trusted');
  }
  return verp;
}
