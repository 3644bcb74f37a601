import { createHash, X509Certificate } from 'node:crypto';
import type { TlsResultType } from '../../core/tls.js';
import type { TlsCheck } from './verify.js';

/**
 * DANE for SMTP (RFC 7672 §3): the presented chain checked against the MX's TLSA records, by
 * Ferry itself (Node knows nothing of DANE). Only DANE-TA(2) and DANE-EE(3) count; selectors
 * 0 (whole certificate) and 1 (SubjectPublicKeyInfo); matching 0 (exact), 1 (SHA-256),
 * 2 (SHA-512). DANE-EE ignores names and dates (§3.1.1); DANE-TA builds the path from the leaf
 * to the matched trust anchor and checks the MX name and validity dates (§3.2.2).
 */
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

/** A digest of the wrong length (or no data at all) can match nothing honestly: such a record is unusable (RFC 7671 §4). */
const DATA_LENGTH: Record<number, (n: number) => boolean> = { 0: (n) => n > 0, 1: (n) => n === 32, 2: (n) => n === 64 };

export function isUsableTlsa(r: TlsaRecord): boolean {
  const lengthOk = DATA_LENGTH[r.matchingType];
  return (r.usage === 2 || r.usage === 3) && (r.selector === 0 || r.selector === 1) && lengthOk !== undefined && lengthOk(r.data.length);
}

/** The record as a zone file would show it (for reports and `ferry tls check`). */
export function tlsaText(r: TlsaRecord): string {
  return `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex')}`;
}

function selected(der: Buffer, selector: number): Buffer {
  if (selector === 0) return der;
  return new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
}

function digest(data: Buffer, matchingType: number): Buffer {
  if (matchingType === 1) return createHash('sha256').update(data).digest();
  if (matchingType === 2) return createHash('sha512').update(data).digest();
  return data;
}

export function tlsaMatchesCert(r: TlsaRecord, der: Buffer): boolean {
  try {
    return digest(selected(der, r.selector), r.matchingType).equals(r.data);
  } catch {
    // a certificate Node cannot parse matches nothing
    return false;
  }
}

function fail(result: TlsResultType, detail: string): TlsCheck {
  return { verified: false, result, detail };
}

/** Checks the leaf-first DER chain against the usable records, for the MX `host`, at `now` (ms). */
export function daneCheck(records: readonly TlsaRecord[], chain: readonly Buffer[], host: string, now: number): TlsCheck {
  const usable = records.filter(isUsableTlsa);
  if (usable.length === 0) return fail('tlsa-invalid', 'no usable TLSA record (only usages 2 and 3 are used for SMTP)');
  if (chain.length === 0) return fail('validation-failure', 'the server presented no certificate');
  const leaf = chain[0]!;
  if (usable.some((r) => r.usage === 3 && tlsaMatchesCert(r, leaf))) return { verified: true, result: 'success', detail: 'DANE-EE' };

  let lastProblem: TlsCheck | null = null;
  for (let i = 1; i < chain.length; i++) {
    if (!usable.some((r) => r.usage === 2 && tlsaMatchesCert(r, chain[i]!))) continue;
    const problem = pathProblem(chain.slice(0, i + 1), host, now);
    if (!problem) return { verified: true, result: 'success', detail: 'DANE-TA' };
    lastProblem = problem;
  }
  return lastProblem ?? fail('validation-failure', 'no TLSA record matches the presented certificate chain');
}

/** null when leaf → ... → anchor is a valid signed path and the leaf is valid for host now. */
function pathProblem(path: readonly Buffer[], host: string, now: number): TlsCheck | null {
  let certs: X509Certificate[];
  try {
    certs = path.map((d) => new X509Certificate(d));
  } catch {
    return fail('validation-failure', 'a certificate in the chain cannot be parsed');
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      return fail('validation-failure', `certificate ${i} of the chain is not signed by the next one`);
    }
  }
  // the anchor's own dates do not matter (RFC 7671 §5.2.2); those below it do
  for (let i = 0; i + 1 < certs.length; i++) {
    const c = certs[i]!;
    if (now < Date.parse(c.validFrom) || now > Date.parse(c.validTo)) {
      return fail('certificate-expired', `certificate ${i} of the chain is outside its validity (${c.validFrom} – ${c.validTo})`);
    }
  }
  if (!certs[0]!.checkHost(host)) return fail('certificate-host-mismatch', `the certificate is not valid for ${host}`);
  return null;
}
