import type { FateDsnEntry, FateEventWrite, FateOrigin, FatePlan, FateRecipient, FateStatusWrite, FateSuppressionWrite, FateVerdict } from '../core/fate.js';
import type { Random } from '../core/random.js';
import type { Classifier, SmtpReply, TlsInfo } from '../core/types.js';
import { suppressionKey } from '../suppress/normalize.js';
import { clip, decide, type AttemptFact, type RetryPolicy } from './decide.js';
import type { DsnRecipient } from './dsn-compose.js';
import { legalFrom } from './fate-legality.js';

/**
 * Pure: what a fact means for one recipient, whatever its origin — written down as a FatePlan
 * (status, attempt row, event with category, suppression, DSN outbox line) for the store to
 * execute. "Change what a bounce does" is a change here.
 */

/** Where an attempt happened, recorded with every recipient's result. */
export interface AttemptContext {
  startedAt: number;
  durationMs: number | null;
  hop: { host: string; ip: string | null; port: number | null; tls: TlsInfo | null } | null;
  /** Every host/address tried to open the session, with what each said. */
  hops: unknown[] | null;
  /** The next hop announced DSN and was given the RFC 3461 parameters (success DSNs say "relayed"). */
  dsnRelayed?: boolean;
}

/** The facts each origin brings. */
export interface FateFacts {
  attempt: { fact: AttemptFact; firstQueuedAt: number; ctx: AttemptContext };
  'async-bounce': { reply: SmtpReply; remoteMta: string | null; reportingMta: string | null };
  complaint: { feedbackType: string; userAgent: string | null; reportingMta: string | null; sourceIp: string | null; user: string | null };
  'lost-body': { reason: string };
  'admin-purge': { reason: string };
  expiry: { reason: string };
  /** Why intake dropped it, and the suppression entry that did (for the sender's report). */
  'intake-drop': { reason: string | null; category: string | null; suppressedAt: number | null };
}

export type FateInput = { [O in FateOrigin]: { origin: O; recipient: FateRecipient; facts: FateFacts[O] } }[FateOrigin];

export interface PlanContext {
  now: number;
  classifier: Classifier;
  retry: RetryPolicy;
  random: Random;
  /** Reads the start of a recipient's run of "mailbox full" replies (only for that verdict). */
  mailboxFullSince: (recipientId: number) => number | null;
  /** null: no delivery status notifications at all. */
  dsn: { onDropped: boolean; delayAfterHours?: number | undefined } | null;
}

/** The longest reason stored on a suppression entry (remote replies can be long multi-line texts). */
const MAX_REASON_CHARS = 1000;

export function planFate(input: FateInput, c: PlanContext): FatePlan {
  switch (input.origin) {
    case 'attempt':
      return planAttempt(input.recipient, input.facts, c);
    case 'async-bounce':
      return planAsyncBounce(input.recipient, input.facts, c);
    case 'complaint':
      return planComplaint(input.recipient, input.facts, c);
    case 'lost-body':
    case 'admin-purge':
    case 'expiry':
      return planEnd(input.origin, input.recipient, input.facts.reason, c);
    case 'intake-drop':
      return planIntakeDrop(input.recipient, input.facts, c);
  }
}

function base(origin: FateOrigin, r: FateRecipient, c: PlanContext, verdict: FateVerdict, event: FateEventWrite): FatePlan {
  return {
    origin,
    recipientId: r.id,
    messageId: r.messageId,
    address: r.address,
    domain: r.domain,
    acceptedAt: r.createdAt,
    at: c.now,
    from: legalFrom(origin),
    unlessLeasedAfter: null,
    verdict,
    status: null,
    complained: false,
    attempt: null,
    event,
    suppression: null,
    dsn: null,
    dsnOnce: null,
    bodyLost: false,
  };
}

function suppression(address: string, category: string, reason: string, source: 'bounce' | 'complaint', scope: string | null): FateSuppressionWrite | null {
  const key = suppressionKey(address);
  if (!key) return null;
  return { address: key.address, domain: key.domain, category, reason: reason.slice(0, MAX_REASON_CHARS), source, scope };
}

function dsnLine(d: DsnRecipient): FateDsnEntry {
  return { ...d };
}

const noWrite: Omit<FateStatusWrite, 'status' | 'nextAttemptAt' | 'attempted'> = {
  code: null, enhanced: null, reply: null, category: null, mxHost: null, remoteIp: null, tlsProtocol: null, tlsCipher: null,
};

function planAttempt(r: FateRecipient, f: FateFacts['attempt'], c: PlanContext): FatePlan {
  const { fact, ctx } = f;
  const d = decide(fact, { now: c.now, firstQueuedAt: f.firstQueuedAt, attemptsSoFar: r.attempts, mailboxFullSince: () => c.mailboxFullSince(r.id) }, c.classifier, c.retry, c.random);
  const category = d.classification?.category ?? null;
  const hop = ctx.hop;
  const verdict: FateVerdict = {
    status: d.status, category, rule: d.classification?.rule ?? null, permanent: d.classification?.permanent ?? false, suppress: d.suppress,
    reply: d.replyText, code: d.code, enhanced: d.enhanced, nextAttemptAt: d.nextAttemptAt,
  };
  const plan = base('attempt', r, c, verdict, {
    type: d.status,
    status: d.status,
    category,
    detail: {
      reply: d.replyText,
      mx: hop?.host ?? null,
      ip: hop?.ip ?? null,
      tls: hop?.tls?.protocol ?? null,
      attempt: r.attempts + 1,
      ...(d.nextAttemptAt ? { nextAttemptAt: new Date(d.nextAttemptAt).toISOString() } : {}),
    },
  });
  plan.status = {
    status: d.status, nextAttemptAt: d.nextAttemptAt, attempted: true, code: d.code, enhanced: d.enhanced, reply: d.replyText, category,
    mxHost: hop?.host ?? null, remoteIp: hop?.ip ?? null, tlsProtocol: hop?.tls?.protocol ?? null, tlsCipher: hop?.tls?.cipher ?? null,
  };
  // Made under a claim: not written over another node's claim if this one's lease was taken.
  if (r.leaseOwner) plan.leaseOwner = r.leaseOwner;
  const failed = fact.kind === 'failed' ? fact : null;
  plan.attempt = {
    at: ctx.startedAt,
    durationMs: ctx.durationMs,
    result: d.status,
    phase: failed ? failed.phase : 'message',
    mxHost: hop?.host ?? null,
    ip: hop?.ip ?? null,
    port: hop?.port ?? null,
    tlsProtocol: hop?.tls?.protocol ?? null,
    tlsCipher: hop?.tls?.cipher ?? null,
    tlsVerified: hop?.tls?.verified ?? null,
    tlsPolicy: hop?.tls?.policy ?? null,
    tlsResult: hop?.tls?.result ?? null,
    code: d.code,
    enhanced: d.enhanced,
    reply: failed && !failed.reply ? null : d.replyText,
    // The recipient's own RCPT result: kept beside the final reply when RCPT accepted it.
    rcptReply: clip(fact.rcptReply?.text ?? (failed && failed.phase === 'rcpt' ? (failed.reply?.text ?? '') : '')) || null,
    errorKind: failed?.error?.kind ?? null,
    error: failed && !failed.reply ? d.replyText : null,
    category,
    rule: d.classification?.rule ?? null,
    hops: ctx.hops,
  };
  if (d.suppress && category) plan.suppression = suppression(r.address, category, d.replyText, 'bounce', null);
  if (c.dsn) {
    const notify = r.dsnNotify;
    const delayMs = (c.dsn.delayAfterHours ?? 4) * 3_600_000;
    let kind: DsnRecipient['kind'] | null = null;
    if (d.status === 'bounced' || d.status === 'expired') kind = d.status;
    else if (d.status === 'delivered' && notify?.includes('SUCCESS')) kind = ctx.dsnRelayed ? 'relayed' : 'delivered';
    else if (d.status === 'deferred' && notify?.includes('DELAY') && r.dsnDelayAt === null && c.now - r.createdAt >= delayMs) {
      kind = 'delayed';
      plan.dsnOnce = 'delay';
    }
    if (kind) {
      plan.dsn = dsnLine({
        address: r.address, kind, category, reply: d.replyText, code: d.code, enhanced: d.enhanced, remoteMta: hop?.host ?? null, lastAttemptAt: ctx.startedAt,
      });
    }
  }
  return plan;
}

function planAsyncBounce(r: FateRecipient, f: FateFacts['async-bounce'], c: PlanContext): FatePlan {
  const cl = c.classifier.classify({ kind: 'reply', reply: f.reply });
  const reply = f.reply;
  const plan = base('async-bounce', r, c,
    { status: 'bounced', category: cl.category, rule: cl.rule, permanent: true, suppress: cl.suppress, reply: reply.text, code: reply.code, enhanced: reply.enhanced, nextAttemptAt: null },
    {
      type: 'bounced', status: 'bounced', category: cl.category,
      detail: { reply: reply.text, async: true, previousStatus: r.status, reportingMta: f.reportingMta, remoteMta: f.remoteMta, rule: cl.rule },
    });
  plan.status = { ...noWrite, status: 'bounced', nextAttemptAt: null, attempted: false, code: reply.code, enhanced: reply.enhanced, reply: reply.text, category: cl.category };
  if (cl.suppress) plan.suppression = suppression(r.address, cl.category, reply.text, 'bounce', null);
  if (c.dsn) {
    plan.dsn = dsnLine({
      address: r.address, kind: 'bounced', category: cl.category, reply: reply.text, code: reply.code, enhanced: reply.enhanced,
      remoteMta: f.remoteMta ?? f.reportingMta, lastAttemptAt: c.now,
    });
  }
  return plan;
}

function planComplaint(r: FateRecipient, f: FateFacts['complaint'], c: PlanContext): FatePlan {
  const who = f.reportingMta ?? f.userAgent ?? 'a mailbox provider';
  const reason = `${f.feedbackType} report from ${who}`;
  const plan = base('complaint', r, c,
    { status: r.status, category: 'complaint', rule: null, permanent: false, suppress: true, reply: reason, code: null, enhanced: null, nextAttemptAt: null },
    {
      type: 'complaint', status: r.status, category: 'complaint',
      detail: { reply: reason, feedbackType: f.feedbackType, userAgent: f.userAgent, reportingMta: f.reportingMta, sourceIp: f.sourceIp },
    });
  plan.complained = true;
  // Scoped to the SMTP user that sent it: the recipient complained about that sender's mail.
  plan.suppression = suppression(r.address, 'complaint', reason, 'complaint', f.user);
  return plan;
}

/** Lost body, admin purge, maximum age: the recipient is given up (`expired`) and reported like a bounce. */
function planEnd(origin: 'lost-body' | 'admin-purge' | 'expiry', r: FateRecipient, reason: string, c: PlanContext): FatePlan {
  // A lost body is this relay's fault, not the recipient's: `other`. A purge or an expiry keeps
  // the category of the last remote reply, which says why the mail did not go.
  const category = origin === 'lost-body' ? 'other' : (r.category ?? 'other');
  // The last remote reply (if any) stays the recipient's reply after an expiry: it says why.
  const reply = origin === 'expiry' && r.lastReply ? r.lastReply : reason;
  const plan = base(origin, r, c,
    { status: 'expired', category, rule: null, permanent: true, suppress: false, reply, code: r.lastCode, enhanced: r.lastEnhanced, nextAttemptAt: null },
    { type: 'expired', status: 'expired', category, detail: { reason } });
  plan.status = {
    ...noWrite, status: 'expired', nextAttemptAt: null, attempted: false,
    reply: origin === 'expiry' && r.lastReply ? null : reason,
    category: origin === 'lost-body' ? 'other' : null,
  };
  if (origin === 'expiry') plan.unlessLeasedAfter = c.now;
  if (origin === 'lost-body') plan.bodyLost = true;
  if (c.dsn) {
    const lastAttemptAt = r.attempts > 0 ? r.updatedAt : null;
    plan.dsn = dsnLine(
      origin === 'lost-body'
        ? { address: r.address, kind: 'expired', category: 'other', reply: reason, code: null, enhanced: null, remoteMta: null, lastAttemptAt, bodyLost: true }
        : {
            address: r.address, kind: 'expired', category: r.category, reply: r.lastReply, code: r.lastCode, enhanced: r.lastEnhanced,
            remoteMta: origin === 'expiry' ? r.mxHost : null, lastAttemptAt, ...(origin === 'admin-purge' ? { purged: true } : {}),
          },
    );
  }
  return plan;
}

function planIntakeDrop(r: FateRecipient, f: FateFacts['intake-drop'], c: PlanContext): FatePlan {
  const plan = base('intake-drop', r, c,
    { status: 'dropped', category: f.category, rule: null, permanent: true, suppress: false, reply: f.reason, code: null, enhanced: null, nextAttemptAt: null },
    { type: 'dropped', status: 'dropped', category: f.category, detail: f.reason ? { reason: f.reason } : null });
  // Recorded as of the intake that dropped it, in the same transaction.
  plan.at = r.createdAt;
  if (c.dsn?.onDropped) {
    plan.dsn = dsnLine({
      address: r.address, kind: 'dropped', category: f.category, reply: f.reason, code: null, enhanced: null, remoteMta: null, lastAttemptAt: null,
      suppressedAt: f.suppressedAt,
    });
  }
  return plan;
}
