import { rule, type BounceRule } from './rule-types.js';

/**
 * Fallbacks for replies whose text said nothing the text rules recognise: first the RFC 3463
 * enhanced code (RFC 3463, RFC 7372, RFC 7505 and the codes big providers use), then the
 * basic reply code class. Order matters only where patterns overlap.
 */
export const CODE_RULES: readonly BounceRule[] = Object.freeze([
  rule('enh-bad-mailbox', 'user_unknown', { enhanced: /^[45]\.1\.[136]$/ }),
  // X.1.10 is RFC 7505's "recipient address has null MX".
  rule('enh-bad-domain', 'domain_invalid', { enhanced: /^[45]\.1\.(?:2|10)$/ }),
  rule('enh-mailbox-disabled', 'mailbox_disabled', { enhanced: /^5\.2\.1$|^[45]\.7\.13$/ }),
  rule('enh-mailbox-full', 'mailbox_full', { enhanced: /^[45]\.2\.2$/ }),
  rule('enh-too-large', 'message_too_large', { enhanced: /^[45]\.(?:2\.3|3\.4)$/ }),
  rule('enh-too-many-recipients', 'rate_limited', { enhanced: /^[45]\.5\.3$/ }),
  rule('enh-unroutable', 'domain_invalid', { enhanced: /^5\.4\.4$/ }),
  rule('enh-loop', 'other', { enhanced: /^[45]\.4\.(?:6|14)$/ }),
  rule('enh-expired', 'temporary', { enhanced: /^[45]\.4\.7$/ }),
  // Gmail's X.7.28 is a flood of unwanted mail from the sending IP: throttled at 4xx,
  // refused at 5xx.
  rule('enh-flood-deferred', 'rate_limited', { enhanced: /^4\.7\.28$/ }),
  rule('enh-flood-refused', 'blocked', { enhanced: /^5\.7\.28$/ }),
  // Microsoft 365: 5.7.511 and 5.7.606–649 are banned senders and IPs.
  rule('enh-banned', 'blocked', { enhanced: /^5\.7\.(?:511|6[0-4]\d)$/ }),
  // RFC 7372 authentication failures (SPF, DKIM, DMARC, reverse DNS) and TLS requirements.
  rule('enh-auth', 'policy', { enhanced: /^[45]\.7\.(?:[4-9]|1[0-2]|2[0-7]|29|30|509|515)$/ }),
  // Other deferrals in the security class are, in practice, throttling (Gmail, Yahoo, M365).
  rule('enh-security-deferral', 'rate_limited', { enhanced: /^4\.7\.\d+$/ }),
  rule('enh-security', 'policy', { enhanced: /^5\.7\.\d+$/ }),
  rule('enh-content', 'policy', { enhanced: /^5\.6\.\d+$/ }),
  rule('class-4xx', 'temporary', { codeClass: [4] }),
  rule('class-5xx', 'other', { codeClass: [5] }),
  rule('class-unknown', 'other', {}),
]);
