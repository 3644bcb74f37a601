import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { HttpPlugin } from '../server.js';
import { createConsoleActions, type ConsoleActionsDeps } from './actions.js';
import { createConsolePlugin, type ConsoleDeps } from './plugin.js';

export interface ConsoleSetup {
  /** Every page's reads and the accounts; every change (with the event naming its admin) through Store.audited. */
  store: ConsoleDeps['store'] & ConsoleActionsDeps['store'];
  clock: Clock;
  logger: Logger;
  /** outcome/fate: a purge is each recipient's fate (see ConsoleActionsDeps). */
  fates: ConsoleActionsDeps['fates'];
  /** The retry window (delivery.maxAgeHours), read per request so a reload shows. */
  maxAgeHours: () => number;
  /** Destination budgets at their rate limit right now (the running throttle). */
  heldBack?: () => number;
  /** Mail was made due or ended: the scheduler looks now. */
  onQueueChanged?: () => void;
  /** A limit changed: the throttle reloads now. */
  onLimitsChanged?: () => void;
}

/** The web console (issue 17) as one plugin for the operator's HTTP endpoint: its queries, its actions, its pages. */
export function createConsole(s: ConsoleSetup): HttpPlugin {
  return createConsolePlugin({
    store: s.store,
    actions: createConsoleActions({
      store: s.store,
      clock: s.clock,
      fates: s.fates,
      onQueueChanged: s.onQueueChanged,
      onLimitsChanged: s.onLimitsChanged,
    }),
    clock: s.clock,
    logger: s.logger,
    maxAgeHours: s.maxAgeHours,
    heldBack: s.heldBack,
  });
}
