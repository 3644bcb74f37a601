import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { RecipientsStore } from '../core/store.js';

/**
 * The throttle's onLimitsChanged listener: mail held back for budget under the old limits (never
 * attempted, waiting as "rate limited") is due again now, since its wait was computed from
 * limits that no longer hold; then `poke` wakes the scheduler. A failure is logged: that mail
 * then waits for its own due time.
 */
export function heldMailDueOnLimitsChange(deps: { recipients: Pick<RecipientsStore, 'wakeHeld'>; clock: Clock; logger: Logger; poke: () => void }): () => void {
  const { clock, logger } = deps;
  return () => {
    deps.recipients.wakeHeld(clock.now()).then(
      (n) => {
        if (n) logger.info({ recipients: n }, 'limits changed: mail waiting for budget is scheduled again');
        deps.poke();
      },
      (err: unknown) => logger.error({ err }, 'limits changed: waking the mail held for budget failed (it waits for its own due time)'),
    );
  };
}
