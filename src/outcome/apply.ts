import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import { FINAL_STATUSES, type Classifier, type TlsInfo } from '../core/types.js';
import { relaxedDurability, type Db } from '../store/db.js';
import { createAttemptsRepo } from '../store/attempts-repo.js';
import type { QueueStore } from '../store/queue-store.js';
import type { RecipientRow } from '../store/recipients-repo.js';
import { clip, decide, type AttemptFact, type Decision, type RetryPolicy } from './decide.js';

/** Where the attempt happened, recorded with every recipient's result. */
export interface AttemptContext {
  startedAt: number;
  durationMs: number | null;
  hop: { host: string; ip: string | null; port: number | null; tls: TlsInfo | null } | null;
  /** Every host/address tried to open the session, with what each said. */
  hops: unknown[] | null;
  /** The next hop announced DSN and was given the RFC 3461 parameters (success DSNs say "relayed"). */
  dsnRelayed?: boolean;
}

/** One recipient's fact from one attempt. */
export interface ApplyItem {
  recipient: RecipientRow;
  fact: AttemptFact;
  firstQueuedAt: number;
}

interface PendingApply {
  items: ApplyItem[];
  ctx: AttemptContext;
  resolve: (applied: AppliedDecision[]) => void;
  reject: (err: unknown) => void;
}

export interface AppliedDecision {
  recipient: RecipientRow;
  decision: Decision;
}

/** Called inside the outcome transaction for decisions that suppress the address. */
export type SuppressHook = (address: string, category: string, reason: string, at: number) => void;

export interface OutcomeDeps {
  db: Db;
  queue: QueueStore;
  classifier: Classifier;
  retry: RetryPolicy;
  clock: Clock;
  random: Random;
  logger: Logger;
  suppress?: SuppressHook;
  /** Inside the transaction, after the decisions: records what must commit with them (due DSNs). */
  withinTransaction?: (applied: AppliedDecision[], ctx: AttemptContext, now: number) => void;
  /** After the transaction: feeds the throttle, DSNs, metrics. Never throws into the caller. */
  onApplied?: (applied: AppliedDecision[], ctx: AttemptContext) => void;
}

/**
 * The effects stage: applies the decisions for one attempt in one transaction — each
 * recipient's status, its attempt row, its event, and any suppression — so what Ferry
 * reports and what it does next can never disagree.
 */
export function createOutcomeApplier(deps: OutcomeDeps) {
  const { db, queue, clock } = deps;
  const attempts = createAttemptsRepo(db);

  function applyItems(items: ApplyItem[], ctx: AttemptContext, now: number): AppliedDecision[] {
    const applied: AppliedDecision[] = [];
    for (const item of items) {
      // Re-read inside the transaction: an admin may have purged it while it was in flight.
      const recipient = queue.recipients.get(item.recipient.id);
      if (!recipient || FINAL_STATUSES.has(recipient.status)) continue;
      const { fact, firstQueuedAt } = item;
      const decision = decide(
        fact,
        { now, firstQueuedAt, attemptsSoFar: recipient.attempts, mailboxFullSince: () => attempts.streakSince(recipient.id, 'mailbox_full') },
        deps.classifier,
        deps.retry,
        deps.random,
      );
      const category = decision.classification?.category ?? null;
      queue.recipients.changeStatus(recipient.id, {
        status: decision.status,
        at: now,
        nextAttemptAt: decision.nextAttemptAt,
        attempted: true,
        code: decision.code,
        enhanced: decision.enhanced,
        reply: decision.replyText,
        category,
        mxHost: ctx.hop?.host ?? null,
        remoteIp: ctx.hop?.ip ?? null,
        tlsProtocol: ctx.hop?.tls?.protocol ?? null,
        tlsCipher: ctx.hop?.tls?.cipher ?? null,
      });
      attempts.insert({
        recipientId: recipient.id,
        messageId: recipient.messageId,
        at: ctx.startedAt,
        durationMs: ctx.durationMs,
        result: decision.status,
        phase: fact.kind === 'failed' ? fact.phase : 'message',
        mxHost: ctx.hop?.host ?? null,
        ip: ctx.hop?.ip ?? null,
        port: ctx.hop?.port ?? null,
        tlsProtocol: ctx.hop?.tls?.protocol ?? null,
        tlsCipher: ctx.hop?.tls?.cipher ?? null,
        tlsVerified: ctx.hop?.tls?.verified ?? null,
        tlsPolicy: ctx.hop?.tls?.policy ?? null,
        tlsResult: ctx.hop?.tls?.result ?? null,
        code: decision.code,
        enhanced: decision.enhanced,
        reply: fact.kind === 'failed' && !fact.reply ? null : decision.replyText,
        // The recipient's own RCPT result: kept beside the final reply when RCPT accepted it.
        rcptReply: clip(fact.rcptReply?.text ?? (fact.kind === 'failed' && fact.phase === 'rcpt' ? (fact.reply?.text ?? '') : '')) || null,
        errorKind: fact.kind === 'failed' ? (fact.error?.kind ?? null) : null,
        error: fact.kind === 'failed' && !fact.reply ? decision.replyText : null,
        category,
        rule: decision.classification?.rule ?? null,
        hops: ctx.hops,
      });
      queue.events.append({
        at: now,
        messageId: recipient.messageId,
        recipientId: recipient.id,
        recipient: recipient.address,
        type: decision.status,
        status: decision.status,
        category,
        detail: {
          reply: decision.replyText,
          mx: ctx.hop?.host ?? null,
          ip: ctx.hop?.ip ?? null,
          tls: ctx.hop?.tls?.protocol ?? null,
          attempt: recipient.attempts + 1,
          ...(decision.nextAttemptAt ? { nextAttemptAt: new Date(decision.nextAttemptAt).toISOString() } : {}),
        },
      });
      if (decision.suppress && category && deps.suppress) {
        deps.suppress(recipient.address, category, decision.replyText, now);
      }
      applied.push({ recipient, decision });
    }
    if (applied.length > 0) deps.withinTransaction?.(applied, ctx, now);
    return applied;
  }
  // Outcomes commit without their own fsync (see relaxedDurability): losing one to a power cut
  // means a redelivery, which at-least-once allows; the next intake commit makes them durable.
  const applyTxStrict = db.transaction(applyItems);
  const applyBatchTxStrict = db.transaction((batch: PendingApply[], now: number) => batch.map((b) => applyItems(b.items, b.ctx, now)));
  const applyTx = (items: ApplyItem[], ctx: AttemptContext, now: number) => relaxedDurability(db, () => applyTxStrict(items, ctx, now));
  const applyBatchTx = (batch: PendingApply[], now: number) => relaxedDurability(db, () => applyBatchTxStrict(batch, now));

  /** After the commit: log lines and listeners. */
  function after(applied: AppliedDecision[], ctx: AttemptContext): void {
    for (const a of applied) {
      const d = a.decision;
      deps.logger.info(
        {
          queueId: a.recipient.messageId,
          recipient: a.recipient.address,
          domain: a.recipient.domain,
          mx: ctx.hop?.host ?? null,
          ip: ctx.hop?.ip ?? null,
          tls: ctx.hop?.tls?.protocol ?? null,
          status: d.status,
          category: d.classification?.category ?? null,
          rule: d.classification?.rule ?? null,
          reply: d.replyText,
          durationMs: ctx.durationMs,
          attempt: a.recipient.attempts + 1,
        },
        'delivery attempt',
      );
    }
    try {
      deps.onApplied?.(applied, ctx);
    } catch (err) {
      deps.logger.error({ err }, 'outcome listener failed');
    }
  }

  // Group commit: attempts that finish in the same turn of the event loop share one
  // transaction (one fsync) instead of one each.
  let pending: PendingApply[] = [];
  let flushQueued = false;
  function flush(): void {
    flushQueued = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const now = clock.now();
    let results: AppliedDecision[][] | null = null;
    try {
      results = applyBatchTx(batch, now);
    } catch (err) {
      deps.logger.warn({ err, attempts: batch.length }, 'grouped outcome commit failed: applying each attempt on its own');
    }
    batch.forEach((b, i) => {
      let applied: AppliedDecision[];
      if (results) applied = results[i]!;
      else {
        try {
          applied = applyTx(b.items, b.ctx, now);
        } catch (err) {
          b.reject(err);
          return;
        }
      }
      after(applied, b.ctx);
      b.resolve(applied);
    });
  }

  return {
    /** Records one attempt's facts for these recipients in its own transaction; returns what was decided. */
    apply(items: ApplyItem[], ctx: AttemptContext): AppliedDecision[] {
      if (items.length === 0) return [];
      const applied = applyTx(items, ctx, clock.now());
      after(applied, ctx);
      return applied;
    },
    /**
     * The same, committed together with the other attempts that finish in this turn of the
     * event loop (one transaction, one fsync for all). Resolves once the outcome is durable.
     */
    applySoon(items: ApplyItem[], ctx: AttemptContext): Promise<AppliedDecision[]> {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<AppliedDecision[]>((resolve, reject) => {
        pending.push({ items, ctx, resolve, reject });
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(flush);
        }
      });
    },
  };
}

export type OutcomeApplier = ReturnType<typeof createOutcomeApplier>;
