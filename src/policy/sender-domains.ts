import { smtpError } from '../core/errors.js';
import type { AddressHeaderFacts, MessageCheck } from '../core/message-check.js';
import { domainAllowed } from './addresses.js';

/**
 * A user limited to some sender domains may not use others in the From header either
 * (MAIL FROM is checked at its own command). The header facts come from the one shared header
 * parser (src/core/header-block.ts) that the DKIM signer and the DMARC guard also read, over a
 * block intake has made CRLF-only, so the From checked here is the From signed and sent.
 *
 * For such a user: exactly one From header, holding exactly one mailbox (no group, no list:
 * receivers differ on which of several they show), in an allowed domain; a Sender header, if
 * any, is held to the same rules. A block starting with a stray continuation line is refused
 * too (parsers disagree on what it continues).
 */
export function createSenderDomainCheck(lookupDomains: (user: string) => readonly string[] | null = () => null): MessageCheck {
  return async ({ session, headers }) => {
    if (!session.username) return;
    const allowed = session.allowedFromDomains ?? lookupDomains(session.username) ?? [];
    if (allowed.length === 0) return;
    const refuse = (text: string) => smtpError(550, `5.7.1 ${text}`, 'DATA');
    if (headers.orphanContinuation) throw refuse('The header block starts with a continuation line; it is malformed');
    if (headers.from.count > 1) throw refuse('More than one From header is not allowed');
    if (headers.from.count === 0) throw refuse('The From header is missing; it must use one of your allowed domains');
    checkMailbox('From', headers.from, allowed, session.username, refuse);
    if (headers.sender.count > 1) throw refuse('More than one Sender header is not allowed');
    if (headers.sender.count === 1) checkMailbox('Sender', headers.sender, allowed, session.username, refuse);
  };
}

function checkMailbox(field: string, facts: AddressHeaderFacts, allowed: readonly string[], user: string, refuse: (text: string) => Error): void {
  if (facts.tooLong) throw refuse(`The ${field} header is too long`);
  if (facts.group) throw refuse(`The ${field} header may not use group syntax; it must hold exactly one mailbox`);
  if (facts.mailboxes.length !== 1 || facts.outsideAt > 1 || facts.outsideAngle > 1) throw refuse(`The ${field} header must hold exactly one mailbox`);
  const address = facts.mailboxes[0]!.address;
  const at = address.lastIndexOf('@');
  if (at <= 0) throw refuse(`The ${field} header has no address; it must use one of your allowed domains`);
  const domain = address.slice(at + 1).toLowerCase();
  if (!domainAllowed(domain, allowed)) throw refuse(`${field} header domain ${domain} is not allowed for user ${user}`);
}
