import type { Consequences } from './consequences.js';
import type { DsnNotifier } from './dsn.js';
import type { AppliedFate } from './fate.js';

export interface AfterCommitDeps {
  /** Metrics (ops/metrics): each attempt's outcome, one entry per recipient. */
  metrics: { attempted(results: readonly { domain: string; status: 'delivered' | 'deferred' | 'bounced' | 'expired'; category: string | null; acceptedAt: number }[]): void };
  consequences: Pick<Consequences, 'onApplied'>;
  /** Delivery status notifications; null: dsn.enabled is off. */
  dsn: Pick<DsnNotifier, 'due' | 'flush'> | null;
  /** The webhook sender (workers/webhook-sender); null: no webhook URLs. */
  webhooks: { poke(): void } | null;
  /** Throttle feedback (throttle/adaptive): the attempts among the fates. */
  slowDown: (attempts: AppliedFate[]) => void;
  /** Retention (ops/retention): messages a final fate may have finished. */
  retention: { finished(messageIds: Iterable<string>): void };
}

/**
 * outcome/fate's one hook after each commit (FateDeps.afterCommit), whatever the fates' origin:
 * attempts are counted in metrics, consequences see every fate, DSN lines written make the
 * notifier due and it flushes, webhooks wake, the throttle hears the attempts (adaptive
 * slow-down), and messages whose recipient reached a final status go to retention.
 */
export function createAfterCommit(deps: AfterCommitDeps): (applied: AppliedFate[]) => void {
  const { metrics, consequences, dsn, webhooks, slowDown, retention } = deps;
  return (applied) => {
    const attempts = applied.filter((a) => a.origin === 'attempt');
    if (attempts.length) metrics.attempted(attempts.map((a) => ({ domain: a.recipient.domain, status: a.decision.status as 'delivered' | 'deferred' | 'bounced' | 'expired', category: a.decision.classification?.category ?? null, acceptedAt: a.recipient.createdAt })));
    consequences.onApplied(applied);
    if (applied.some((a) => a.dsnRecorded)) dsn?.due();
    void dsn?.flush();
    webhooks?.poke();
    slowDown(attempts);
    retention.finished(applied.filter((a) => a.decision.status !== 'deferred' && a.decision.status !== 'queued').map((a) => a.recipient.messageId));
  };
}
