import type { Clock } from '../core/clock.js';
import type { FateOrigin, FatePlan, FateResult } from '../core/fate.js';
import type { FatesStore } from '../core/store.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import type { BounceCategory, Classification, Classifier, RecipientStatus } from '../core/types.js';
import type { RetryPolicy } from './decide.js';
import { planFate, type FateInput, type PlanContext } from './fate-plan.js';

export type { FateInput, FateFacts, AttemptContext } from './fate-plan.js';

/**
 * outcome/fate: the only writer of a recipient's fate. Whatever the origin (delivery attempt,
 * asynchronous bounce, complaint, lost body, admin purge, intake drop, expiry), `record` decides
 * (fate-plan.ts, pure) and hands the plans to the store's `fates.record` — one transaction for
 * every fate recorded in the same turn of the event loop — then runs ONE hook after the commit
 * (metrics, consequences, throttle feedback, DSN flush, webhooks: after-commit.ts), wired in main.ts.
 */

/** A fate that was written, as what runs after the commit reads it. */
export interface AppliedFate {
  origin: FateOrigin;
  plan: FatePlan;
  recipient: { id: number; messageId: string; address: string; domain: string; createdAt: number };
  decision: {
    status: RecipientStatus;
    classification: Classification | null;
    suppress: boolean;
    replyText: string;
    code: number | null;
    enhanced: string | null;
    nextAttemptAt: number | null;
  };
  /** The host that gave the reply (attempts), or null. */
  hop: { host: string | null; ip: string | null } | null;
  /** A DSN line went to the outbox. */
  dsnRecorded: boolean;
}

export interface FateDeps {
  /** The store's fate writes (one transaction for all plans; on SQLite, on the writer thread). */
  fates: Pick<FatesStore, 'record'>;
  classifier: Classifier;
  /** Read at each decision, so a reload changes the schedule from the next attempt on. */
  retry: RetryPolicy;
  clock: Clock;
  random: Random;
  logger: Logger;
  /**
   * Reads when a recipient's run of "mailbox full" replies began (the store's
   * attempts.streakSince). Read before planning, and only for attempts old enough for the
   * answer to matter (retry.mailboxFullSuppressAfterHours).
   */
  mailboxFullSince?: (recipientId: number) => Promise<number | null> | number | null;
  /** Delivery status notifications; null/absent: none. */
  dsn?: { onDropped: boolean; delayAfterHours?: number | undefined } | null;
  /** After the commit, once per commit, with every fate written. Never throws into the caller. */
  afterCommit?: (applied: AppliedFate[]) => void;
}

interface Pending {
  inputs: FateInput[];
  resolve: (results: FateResult[]) => void;
  reject: (err: unknown) => void;
}

export function appliedOf(r: FateResult): AppliedFate {
  const p = r.plan;
  const v = p.verdict;
  return {
    origin: p.origin,
    plan: p,
    recipient: { id: p.recipientId, messageId: p.messageId, address: p.address, domain: p.domain, createdAt: p.acceptedAt },
    decision: {
      status: v.status,
      classification: v.category && p.origin !== 'complaint' && p.origin !== 'intake-drop' && v.rule !== null
        ? { category: v.category as BounceCategory, permanent: v.permanent, suppress: v.suppress, rule: v.rule }
        : null,
      suppress: p.suppression !== null,
      replyText: v.reply ?? '',
      code: v.code,
      enhanced: v.enhanced,
      nextAttemptAt: v.nextAttemptAt,
    },
    hop: p.attempt ? { host: p.attempt.mxHost, ip: p.attempt.ip } : null,
    dsnRecorded: r.dsnRecorded,
  };
}

export function createFate(deps: FateDeps) {
  const { clock, logger } = deps;

  function context(now: number, streaks: ReadonlyMap<number, number | null>): PlanContext {
    return {
      now,
      classifier: deps.classifier,
      retry: deps.retry,
      random: deps.random,
      mailboxFullSince: (id) => streaks.get(id) ?? null,
      dsn: deps.dsn ?? null,
    };
  }

  /**
   * The "mailbox full" streaks the plans may read (the plan itself is synchronous): those of
   * failed attempts at least mailboxFullSuppressAfterHours old; younger ones never read it.
   */
  function streaksFor(batch: readonly Pending[], now: number): Map<number, number | null> | Promise<Map<number, number | null>> {
    const streaks = new Map<number, number | null>();
    const read = deps.mailboxFullSince;
    if (!read) return streaks;
    const after = deps.retry.mailboxFullSuppressAfterHours * 3_600_000;
    const ids = new Set<number>();
    for (const b of batch) {
      for (const i of b.inputs) {
        if (i.origin === 'attempt' && i.facts.fact.kind !== 'delivered' && now - i.facts.firstQueuedAt >= after) ids.add(i.recipient.id);
      }
    }
    // Nothing to read (every delivery, every young failure): no promise to wait for.
    if (ids.size === 0) return streaks;
    return Promise.all([...ids].map(async (id) => streaks.set(id, await read(id)))).then(() => streaks);
  }

  function plan(inputs: readonly FateInput[], now = clock.now(), streaks: ReadonlyMap<number, number | null> = new Map()): FatePlan[] {
    const c = context(now, streaks);
    return inputs.map((input) => {
      const p = planFate(input, c);
      if (p.verdict.suppress && !p.suppression && p.origin !== 'intake-drop') {
        logger.error({ queueId: p.messageId, recipient: p.address, category: p.verdict.category }, 'could not put the address on the suppression list: not a usable address');
      }
      return p;
    });
  }

  /** Logs and the after-commit hook for fates written by a commit (call it yourself after an intake commit). */
  function committed(results: readonly FateResult[]): AppliedFate[] {
    const applied = results.filter((r) => r.applied).map(appliedOf);
    for (const a of applied) {
      if (a.origin !== 'attempt') continue;
      const p = a.plan;
      logger.info(
        {
          queueId: p.messageId, recipient: p.address, domain: p.domain, mx: p.attempt?.mxHost ?? null, ip: p.attempt?.ip ?? null, tls: p.attempt?.tlsProtocol ?? null,
          status: p.verdict.status, category: p.verdict.category, rule: p.verdict.rule, reply: p.verdict.reply, durationMs: p.attempt?.durationMs ?? null,
          attempt: (p.event.detail?.attempt as number | undefined) ?? null,
        },
        'delivery attempt',
      );
    }
    if (applied.length > 0) {
      try {
        deps.afterCommit?.(applied);
      } catch (err) {
        logger.error({ err }, 'fate listener failed');
      }
    }
    return applied;
  }

  // Group commit: fates recorded in the same turn of the event loop share one transaction (one
  // fsync, or one trip to the writer) instead of one each.
  let pending: Pending[] = [];
  let flushQueued = false;
  async function flush(): Promise<void> {
    flushQueued = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const now = clock.now();
    const plans: FatePlan[][] = [];
    const planned: Pending[] = [];
    let streaks: Map<number, number | null>;
    try {
      const read = streaksFor(batch, now);
      streaks = read instanceof Map ? read : await read;
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    for (const b of batch) {
      try {
        plans.push(plan(b.inputs, now, streaks));
        planned.push(b);
      } catch (err) {
        b.reject(err);
      }
    }
    let results: FateResult[][] | null = null;
    try {
      const all = await deps.fates.record(plans.flat());
      let at = 0;
      results = plans.map((p) => all.slice(at, (at += p.length)));
    } catch (err) {
      if (planned.length === 1) {
        planned[0]!.reject(err);
        return;
      }
      logger.warn({ err, batches: planned.length }, 'grouped fate commit failed: recording each on its own');
    }
    const ok: FateResult[][] = [];
    const done: Pending[] = [];
    for (const [i, b] of planned.entries()) {
      let r = results?.[i];
      if (!r) {
        try {
          r = await deps.fates.record(plans[i]!);
        } catch (err) {
          b.reject(err);
          continue;
        }
      }
      ok.push(r);
      done.push(b);
    }
    committed(ok.flat());
    done.forEach((b, i) => b.resolve(ok[i]!));
  }

  return {
    /** Pure: the plans these facts make (what fates.record would write); no "mailbox full" streak is read. */
    plan: (inputs: readonly FateInput[], now?: number): FatePlan[] => plan(inputs, now),
    committed,
    /**
     * Records these fates, committed together with the others recorded in this turn of the event
     * loop. Resolves once they are durable, with each plan and whether it applied (in order).
     */
    record(inputs: readonly FateInput[]): Promise<FateResult[]> {
      if (inputs.length === 0) return Promise.resolve([]);
      return new Promise<FateResult[]>((resolve, reject) => {
        pending.push({ inputs: [...inputs], resolve, reject });
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(() => void flush());
        }
      });
    },
  };
}

export type Fate = ReturnType<typeof createFate>;
