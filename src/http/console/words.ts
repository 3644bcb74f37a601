/**
 * Pure: what support staff tell a customer, in the words of a help article. Status and bounce
 * category → a label, a sentence and what to do next.
 */

export type PlainStatus = 'Delivered' | 'Spam' | 'Bounced' | 'Dropped' | 'Deferred' | 'Queued' | 'Expired';

export interface StatusInput {
  status: string;
  complainedAt: number | null;
  /** when the message was accepted (for "will retry until") */
  createdAt: number;
  category: string | null;
}

export interface StatusWords {
  label: PlainStatus;
  /** one sentence on what happened */
  sentence: string;
  /** for a deferred recipient: Ferry gives up at this time */
  retryUntil: number | null;
}

export function plainStatus(r: StatusInput, maxAgeHours: number): StatusWords {
  const until = r.createdAt + maxAgeHours * 3_600_000;
  switch (r.status) {
    case 'delivered':
      return r.complainedAt !== null
        ? { label: 'Spam', sentence: "Delivered, then the recipient's provider reported it as spam (a complaint). The address is suppressed for this sender.", retryUntil: null }
        : { label: 'Delivered', sentence: "The recipient's mail server accepted the message.", retryUntil: null };
    case 'bounced':
      return { label: 'Bounced', sentence: "The recipient's mail server refused the message for good.", retryUntil: null };
    case 'dropped':
      return { label: 'Dropped', sentence: 'Not sent: the address is on the suppression list because mail to it failed before.', retryUntil: null };
    case 'deferred':
      return { label: 'Deferred', sentence: "The recipient's server asked us to try again later; Ferry keeps retrying.", retryUntil: until };
    case 'queued':
      return { label: 'Queued', sentence: 'Waiting to be sent (in a moment).', retryUntil: until };
    case 'expired':
      return { label: 'Expired', sentence: 'Ferry kept trying until the retry window ended (or an admin purged it), then gave up.', retryUntil: null };
    default:
      return { label: 'Queued', sentence: r.status, retryUntil: until };
  }
}

export interface CategoryWords {
  /** the category in plain words */
  what: string;
  /** what to do next */
  next: string;
}

const CATEGORIES: Record<string, CategoryWords> = {
  user_unknown: { what: 'The address does not exist.', next: 'Check the spelling of the address with the customer; once it is right, remove it from the suppression list.' },
  domain_invalid: { what: 'The domain does not exist or does not receive mail.', next: 'Check the spelling of the domain (after the @); once it is right, remove it from the suppression list.' },
  mailbox_disabled: { what: 'The mailbox is disabled or closed.', next: 'Ask the customer for another address, or to reactivate this one; then remove it from the suppression list.' },
  mailbox_full: { what: 'The mailbox is full.', next: 'Ask the customer to free some space. Ferry retries on its own.' },
  rate_limited: { what: 'Their server is receiving too much mail from us right now.', next: 'Nothing to do: Ferry slows down for that provider and retries.' },
  blocked: { what: "Their server refused us (our sending server or domain is blocked there).", next: "Ask the customer's IT to allow mail from the sending domain; tell the Ferry admin too." },
  spam_content: { what: 'Their server judged the content to be spam or a virus.', next: 'Tell the sender: the message content needs changing. Resending the same message will fail again.' },
  policy: { what: "Their server's rules refused the message (authentication, sender or TLS policy).", next: "Ask the customer's IT to allow mail from the sending domain; tell the Ferry admin the reply below." },
  message_too_large: { what: 'The message is larger than their server accepts.', next: 'Send a smaller message (a link instead of a large attachment).' },
  temporary: { what: 'A temporary problem on their side (busy, try later).', next: 'Nothing to do: Ferry retries on its own.' },
  other: { what: 'Their server gave a reason Ferry could not sort.', next: 'Read the remote reply below; if unclear, ask the Ferry admin.' },
  manual: { what: 'An admin put this address on the suppression list.', next: 'Remove it from the suppression list if mail to it should go out again.' },
  complaint: { what: 'The recipient reported our mail as spam.', next: 'Do not remove it unless the recipient asks for mail again.' },
};

export function plainCategory(category: string | null): CategoryWords | null {
  if (!category) return null;
  return CATEGORIES[category] ?? CATEGORIES.other!;
}

/** The suppression list entry in plain words, with what to do. */
export function plainSuppression(category: string): CategoryWords {
  const c = plainCategory(category)!;
  return { what: `On the suppression list: ${c.what.charAt(0).toLowerCase()}${c.what.slice(1)}`, next: category === 'complaint' ? c.next : 'Once the recipient has fixed their mailbox, remove the address from the list (the button is right here).' };
}
