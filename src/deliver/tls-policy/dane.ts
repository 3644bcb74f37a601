import type { TlsaAnswer } from 'dns-packet';
import { errorMessage } from '../../core/errors.js';
import { dnssecQuery, type DnssecAnswer } from './dnssec-query.js';
import { isUsableTlsa, tlsaText, type TlsaRecord } from './tlsa-match.js';

/**
 * Which MX hosts of a domain DANE governs (RFC 7672 §2): only when the domain's MX RRset is
 * DNSSEC-secure (a spoofable MX list makes TLSA under it meaningless), then per host, its
 * `_PORT._tcp.HOST` TLSA RRset when secure. A lookup that fails or comes back bogus (SERVFAIL
 * from a validating resolver) means "cannot tell": that host is deferred, never tried without
 * DANE; no records, or insecure ones, fall back to MTA-STS or opportunistic TLS.
 */
export type DaneForHost =
  | { kind: 'none'; reason: string }
  /** usable records: TLS required, the chain checked against them */
  | { kind: 'dane'; records: TlsaRecord[]; strings: string[] }
  /** secure TLSA records, none usable (RFC 7672 §2.2: TLS required, authentication not) */
  | { kind: 'unusable'; strings: string[] }
  | { kind: 'failed'; reason: string };

export type DaneForDomain = { secure: true } | { secure: false; reason: string } | { failed: true; reason: string };

export interface DaneLookup {
  mxSecure(domain: string): Promise<DaneForDomain>;
  tlsaFor(host: string, port: number): Promise<DaneForHost>;
}

export interface DaneOptions {
  /** the validating resolver, host:port (loopback) */
  server: string;
  timeoutMs: number;
}

const NEGATIVE = new Set(['NXDOMAIN']);

export function createDaneLookup(o: DaneOptions): DaneLookup {
  const ask = async (name: string, type: 'MX' | 'TLSA'): Promise<DnssecAnswer | { error: string }> => {
    try {
      return await dnssecQuery(o.server, name, type, o.timeoutMs);
    } catch (err) {
      return { error: `${type} ${name}: ${errorMessage(err)}` };
    }
  };

  return {
    async mxSecure(domain) {
      const a = await ask(domain, 'MX');
      if ('error' in a) return { failed: true, reason: a.error };
      if (a.rcode !== 'NOERROR' && !NEGATIVE.has(a.rcode)) return { failed: true, reason: `MX ${domain}: ${a.rcode} from the validating resolver (bogus or unreachable)` };
      if (!a.secure) return { secure: false, reason: `the MX records of ${domain} are not DNSSEC-signed` };
      return { secure: true };
    },
    async tlsaFor(host, port) {
      const name = `_${port}._tcp.${host}`;
      const a = await ask(name, 'TLSA');
      if ('error' in a) return { kind: 'failed', reason: a.error };
      if (NEGATIVE.has(a.rcode)) return { kind: 'none', reason: `no TLSA records at ${name}` };
      if (a.rcode !== 'NOERROR') return { kind: 'failed', reason: `TLSA ${name}: ${a.rcode} from the validating resolver (bogus or unreachable)` };
      const records: TlsaRecord[] = a.answers
        .filter((x): x is TlsaAnswer => x.type === 'TLSA')
        .map((x) => ({ usage: x.data.usage, selector: x.data.selector, matchingType: x.data.matchingType, data: Buffer.from(x.data.certificate) }));
      if (records.length === 0) return { kind: 'none', reason: `no TLSA records at ${name}` };
      if (!a.secure) return { kind: 'none', reason: `the TLSA records at ${name} are not DNSSEC-signed` };
      const strings = records.map(tlsaText);
      const usable = records.filter(isUsableTlsa);
      return usable.length > 0 ? { kind: 'dane', records: usable, strings } : { kind: 'unusable', strings };
    },
  };
}
