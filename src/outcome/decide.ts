import type { Random } from '../core/random.js';
import type { BounceCategory, Classification, Classifier, RecipientStatus, SmtpReply } from '../core/types.js';

/**
 * Pure: what a delivery fact means for one recipient. deliver says what happened, the
 * classifier says what the reply means, and this turns both into the next status and time.
 */

/** What happened to one recipient in one attempt (a fact, before interpretation). */
export type AttemptFact =
  | { kind: 'delivered'; reply: SmtpReply; rcptReply?: SmtpReply | undefined }
  | {
      kind: 'failed';
      phase: string;
      reply?: SmtpReply | undefined;
      /** The recipient's own RCPT reply, when the transaction failed after RCPT accepted it. */
      rcptReply?: SmtpReply | undefined;
      error?: { kind: 'dns' | 'connect' | 'tls' | 'timeout' | 'protocol' | 'local'; message: string } | undefined;
      /** Ferry itself decided no retry can help (8-bit to a 7-bit server, over the SIZE limit, ...). */
      permanentLocal?: { category: BounceCategory; message: string; /** the enhanced status code to record (e.g. 5.7.30) */ enhanced?: string | undefined } | undefined;
      /** Routing said the domain takes no mail (NXDOMAIN, null MX). */
      permanentRoute?: { message: string } | undefined;
    };

export interface RetryPolicy {
  retryScheduleMinutes: readonly number[];
  retryJitter: number;
  maxAgeHours: number;
  /** mailbox_full suppresses once the recipient has been failing that long. */
  mailboxFullSuppressAfterHours: number;
}

export interface Decision {
  status: Extract<RecipientStatus, 'delivered' | 'deferred' | 'bounced' | 'expired'>;
  nextAttemptAt: number | null;
  classification: Classification | null;
  suppress: boolean;
  /** The text recorded as the recipient's last reply. */
  replyText: string;
  code: number | null;
  enhanced: string | null;
}

export function retryDelayMs(attemptsSoFar: number, policy: RetryPolicy, random: Random): number {
  const schedule = policy.retryScheduleMinutes;
  const base = schedule[Math.min(attemptsSoFar, schedule.length - 1)]! * 60_000;
  const jitter = 1 + policy.retryJitter * (random.next() * 2 - 1);
  return Math.max(1000, Math.round(base * jitter));
}

export function decide(
  fact: AttemptFact,
  ctx: {
    now: number;
    firstQueuedAt: number;
    attemptsSoFar: number;
    /**
     * When the recipient's current run of "mailbox full" replies began (earlier attempts, not
     * this one); read only for a mailbox_full verdict. Absent: measured from the queue time.
     */
    mailboxFullSince?: () => number | null;
  },
  classifier: Classifier,
  policy: RetryPolicy,
  random: Random,
): Decision {
  if (fact.kind === 'delivered') {
    return { status: 'delivered', nextAttemptAt: null, classification: null, suppress: false, replyText: clip(fact.reply.text), code: fact.reply.code, enhanced: fact.reply.enhanced };
  }
  const replyText = clip(fact.reply?.text ?? fact.permanentLocal?.message ?? fact.permanentRoute?.message ?? fact.error?.message ?? 'unknown failure');
  const code = fact.reply?.code ?? null;
  const enhanced = fact.reply?.enhanced ?? fact.permanentLocal?.enhanced ?? null;

  let classification: Classification;
  if (fact.permanentRoute) {
    classification = { category: 'domain_invalid', permanent: true, suppress: true, rule: 'route-permanent' };
  } else if (fact.permanentLocal) {
    classification = { category: fact.permanentLocal.category, permanent: true, suppress: false, rule: 'local-refusal' };
  } else if (fact.reply) {
    classification = classifier.classify({ kind: 'reply', reply: fact.reply });
  } else {
    classification = classifier.classify({ kind: 'error', error: fact.error?.kind ?? 'local', message: fact.error?.message ?? '' });
  }

  if (classification.permanent) {
    return { status: 'bounced', nextAttemptAt: null, classification, suppress: classification.suppress, replyText, code, enhanced };
  }
  const age = ctx.now - ctx.firstQueuedAt;
  // "Persists": measured from the first of an unbroken run of full-mailbox replies, so a mailbox
  // that was full once on day 1 and again today is not taken for one full for three days.
  const suppressFull =
    classification.category === 'mailbox_full' &&
    age >= policy.mailboxFullSuppressAfterHours * 3_600_000 &&
    ctx.now - (ctx.mailboxFullSince ? (ctx.mailboxFullSince() ?? ctx.now) : ctx.firstQueuedAt) >= policy.mailboxFullSuppressAfterHours * 3_600_000;
  const maxAgeMs = policy.maxAgeHours * 3_600_000;
  if (age >= maxAgeMs) {
    return { status: 'expired', nextAttemptAt: null, classification, suppress: suppressFull, replyText, code, enhanced };
  }
  // The last try is at the expiry time, not up to a whole retry interval after it: a recipient
  // expires when its maximum age passes.
  const next = Math.min(ctx.now + retryDelayMs(ctx.attemptsSoFar, policy, random), ctx.firstQueuedAt + maxAgeMs);
  return { status: 'deferred', nextAttemptAt: next, classification, suppress: suppressFull, replyText, code, enhanced };
}

/** A remote server chooses its reply's length: keep what a person needs, not 200 KB of it. */
export const MAX_REPLY_CHARS = 2000;

export function clip(text: string): string {
  return text.length > MAX_REPLY_CHARS ? `${text.slice(0, MAX_REPLY_CHARS)}… [${text.length - MAX_REPLY_CHARS} more characters]` : text;
}
