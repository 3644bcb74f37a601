import { parseHeaderFields } from '../core/header-block.js';
import type { TlsSessionResult } from '../core/tls.js';

/**
 * RFC 8689 (REQUIRETLS), as pure decisions over facts deliver already has.
 *
 * - A message submitted with `MAIL FROM:<…> REQUIRETLS` may go only over TLS, to an MX whose
 *   name and certificate were validated by MTA-STS (enforce) or DANE, and which advertised
 *   REQUIRETLS after STARTTLS (so the next hop keeps the promise); REQUIRETLS is then passed on.
 *   Anything else ends the recipient with 5.7.30 (a permanent failure and a DSN).
 * - `TLS-Required: No` (§5) asks that the recipient domain's TLS policy (MTA-STS, DANE) be
 *   ignored for this message, so it is delivered even when that policy fails (opportunistic
 *   STARTTLS is still tried). When REQUIRETLS was given on MAIL FROM the header MUST be ignored
 *   (§4.1). Operator-configured TLS requirements (routes, requireTlsDomains) are not relaxed.
 */

export interface RequireTlsMessageFacts {
  /** REQUIRETLS was given on MAIL FROM */
  requireTls: boolean;
  /** the header block has `TLS-Required: No` */
  tlsRequiredNo: boolean;
}

export type RequireTlsSessionFacts = Pick<TlsSessionResult, 'mxHost' | 'protocol' | 'verified' | 'policyApplied' | 'requireTlsOffered'>;

export type RequireTlsVerdict =
  | { send: true; /** pass REQUIRETLS on with MAIL FROM */ requireTlsParam: boolean }
  | { send: false; code: 550; enhanced: '5.7.30'; reason: string };

/** RFC 8689 §6 status code for "REQUIRETLS support required". */
export const REQUIRETLS_STATUS = '5.7.30';

export function requireTlsVerdict(message: RequireTlsMessageFacts, session: RequireTlsSessionFacts): RequireTlsVerdict {
  if (!message.requireTls) return { send: true, requireTlsParam: false };
  const refuse = (why: string): RequireTlsVerdict => ({
    send: false,
    code: 550,
    enhanced: REQUIRETLS_STATUS,
    reason: `REQUIRETLS support required: ${why}; the message was not sent (RFC 8689)`,
  });
  if (session.protocol === null) return refuse(`the session to ${session.mxHost} is not encrypted`);
  if (session.policyApplied !== 'sts-enforce' && session.policyApplied !== 'dane') {
    return refuse(`${session.mxHost} is not validated by an MTA-STS policy in enforce mode or by DANE (policy: ${session.policyApplied})`);
  }
  if (!session.verified) return refuse(`the certificate of ${session.mxHost} was not verified`);
  if (!session.requireTlsOffered) return refuse(`${session.mxHost} does not advertise REQUIRETLS`);
  return { send: true, requireTlsParam: true };
}

/** §5: the recipient domain's MTA-STS/DANE policy is not enforced for this message. */
export function ignoresRecipientTlsPolicy(message: RequireTlsMessageFacts): boolean {
  return message.tlsRequiredNo && !message.requireTls;
}

/**
 * Whether a header block carries `TLS-Required: No` (§5: the field's value is "No", compared
 * case-insensitively). More than one such field, or any other value, does not count.
 */
export function hasTlsRequiredNo(headerBlock: Buffer): boolean {
  const fields = parseHeaderFields(headerBlock).filter((f) => f.key === 'tls-required');
  return fields.length === 1 && fields[0]!.value.toLowerCase() === 'no';
}
