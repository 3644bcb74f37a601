import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { TlsResultType } from '../../core/tls.js';

/**
 * WebPKI verification of an MX's certificate (what MTA-STS and "TLS required" demand): a chain
 * to a trusted CA (the system's store plus NODE_EXTRA_CA_CERTS) and a name valid for the MX host.
 * The handshake itself never rejects (opportunistic TLS must still get through); this reads what
 * Node found and says, in RFC 8460 terms, what was wrong.
 */
export interface TlsCheck {
  verified: boolean;
  result: TlsResultType;
  detail: string | null;
}

const NOT_TRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** An OpenSSL/Node verification code → the RFC 8460 result type. */
export function certErrorResult(code: string): TlsResultType {
  if (code === 'CERT_HAS_EXPIRED') return 'certificate-expired';
  if (NOT_TRUSTED.has(code)) return 'certificate-not-trusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') return 'certificate-host-mismatch';
  return 'validation-failure';
}

function codeOf(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && 'code' in err) return String((err as { code: unknown }).code);
  return err instanceof Error ? err.message : 'unknown';
}

export function webPkiCheck(socket: TLSSocket, host: string): TlsCheck {
  const cert = socket.getPeerCertificate(false) as PeerCertificate | undefined;
  if (!cert || !cert.raw) return { verified: false, result: 'validation-failure', detail: 'the server presented no certificate' };
  if (!socket.authorized) {
    const code = codeOf(socket.authorizationError);
    return { verified: false, result: certErrorResult(code), detail: `${code} (certificate for ${cert.subject?.CN ?? '?'})` };
  }
  // Node checked the name it was given as servername; check the MX name explicitly all the same
  const mismatch = checkServerIdentity(host, cert);
  if (mismatch) return { verified: false, result: 'certificate-host-mismatch', detail: mismatch.message };
  return { verified: true, result: 'success', detail: null };
}

/** The presented chain as DER, leaf first, up to where the peer's chain ends (for DANE). */
export function peerChain(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true) as PeerCertificate | undefined;
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    chain.push(c.raw);
    const next = (c as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
    c = next && next !== c ? next : undefined;
  }
  return chain;
}
