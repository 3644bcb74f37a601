import { rule, type BounceRule } from './rule-types.js';

/**
 * Failures that produced no SMTP reply. The DNS stage itself turns NXDOMAIN and null MX into
 * domain_invalid; these rules only read its message so that a failure handed over as an
 * error still lands in the right place.
 */
export const NETWORK_RULES: readonly BounceRule[] = Object.freeze([
  rule('net-dns-no-domain', 'domain_invalid', {
    errors: ['dns'],
    text: [/\bnxdomain\b/i, /\bnull[ -]mx\b/i, /\bno such domain\b/i, /\bdomain (?:name )?(?:does not|doesn't) exist\b/i],
  }),
  rule('net-dns', 'temporary', { errors: ['dns'] }),
  // A TLS failure is a policy mismatch between the two ends; it is retried (another MX, a
  // later attempt, a changed policy) and never bounces the recipient on its own.
  rule('net-tls', 'policy', { errors: ['tls'] }, { permanent: false }),
  rule('net-connect', 'temporary', { errors: ['connect', 'timeout', 'protocol'] }),
  // This relay's own side: a refusal it made (a private MX address, an abort at stop) or an
  // error in it. Retried like a network failure, but named apart so that an operator reading
  // the attempt does not look for a network fault.
  rule('local', 'temporary', { errors: ['local'] }),
]);
