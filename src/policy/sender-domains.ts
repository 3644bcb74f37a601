import { smtpError } from '../core/errors.js';
import type { MessageCheck } from '../receive/intake.js';
import { domainAllowed } from './addresses.js';

/**
 * A user limited to some sender domains may not use others in the From header either
 * (MAIL FROM is checked at its own command). More than one From header is refused for such
 * users, since receivers may display a different one than the one checked.
 */
export function createSenderDomainCheck(lookupDomains: (user: string) => readonly string[] | null = () => null): MessageCheck {
  return async ({ session, headers }) => {
    if (!session.username) return;
    const allowed = session.allowedFromDomains ?? lookupDomains(session.username) ?? [];
    if (allowed.length === 0) return;
    if (headers.fromCount > 1) throw smtpError(550, '5.7.1 More than one From header is not allowed', 'DATA');
    const domain = headers.fromAddress?.split('@').pop()?.toLowerCase();
    if (!domain) throw smtpError(550, '5.7.1 The From header has no address; it must use one of your allowed domains', 'DATA');
    if (!domainAllowed(domain, allowed)) {
      throw smtpError(550, `5.7.1 From header domain ${domain} is not allowed for user ${session.username}`, 'DATA');
    }
  };
}
