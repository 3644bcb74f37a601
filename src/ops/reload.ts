import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';

/**
 * What a reload can swap in while connections stay open, by config path (the longest matching
 * prefix wins). Anything not listed needs a restart: a new key is safe by default, since the
 * worst case is a "restart needed" log line, never a setting silently ignored.
 */
const LIVE_PREFIXES: readonly string[] = [
  'log.level',
  'smtp.tls',
  'routes',
  'dkim',
  'dmarc',
  'suppression',
  'disk',
  'bounces',
  'delivery.retryScheduleMinutes',
  'delivery.retryJitter',
  'delivery.maxAgeHours',
  'delivery.requireTlsDomains',
  'outboundTls.encryptOnlyDomains',
  'delivery.allowPrivateMx',
  'delivery.port',
  'retention',
];

export interface ReloadPlan {
  /** changed keys that take effect now */
  live: string[];
  /** changed keys that keep their old value until the relay restarts */
  restart: string[];
}

/** Compares two validated configs key by key (arrays and records of routes compared whole). */
export function planReload(current: Config, next: Config, live: readonly string[] = LIVE_PREFIXES): ReloadPlan {
  const changed: string[] = [];
  diff(current, next, '', changed);
  const plan: ReloadPlan = { live: [], restart: [] };
  for (const path of changed) {
    const isLive = live.some((p) => path === p || path.startsWith(`${p}.`));
    (isLive ? plan.live : plan.restart).push(path);
  }
  return plan;
}

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b) && path !== 'routes') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) diff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface ReloadResult {
  ok: boolean;
  /** why the new config was refused (ok: false) */
  error: string | null;
  /** changed keys now in effect */
  applied: string[];
  /** changed keys that need a restart (their old value stays) */
  restartNeeded: string[];
}

/** What a reload does to the running relay, in two steps the composition root supplies. */
export interface ReloadSteps<Prepared> {
  /** The configuration running now. */
  current(): Config;
  /**
   * Loads everything that can fail (certificates, key files, parts built from `next`) and
   * changes nothing; throwing refuses the reload.
   */
  prepare(next: Config): Prepared;
  /** Swaps `next` and what `prepare` built into the running relay. */
  apply(next: Config, prepared: Prepared): Promise<void>;
}

/**
 * A reload: all or nothing. Whatever cannot be loaded refuses the whole of it (the running
 * configuration stays); otherwise the live keys take effect and the restart-only keys are named,
 * in the result and the log.
 */
export function createReloader<Prepared>(
  started: Config,
  steps: ReloadSteps<Prepared>,
  deps: { metrics: { reloaded(ok: boolean): void }; logger: Logger },
): (next: Config) => Promise<ReloadResult> {
  const { metrics, logger } = deps;
  return async function reload(next) {
    const plan = planReload(steps.current(), next);
    let prepared: Prepared;
    try {
      prepared = steps.prepare(next);
    } catch (err) {
      const error = errorMessage(err);
      metrics.reloaded(false);
      logger.error({ err: error }, `config reload refused, the running configuration stays: ${error}`);
      return { ok: false, error, applied: [], restartNeeded: [] };
    }
    await steps.apply(next, prepared);
    metrics.reloaded(true);
    // Against the configuration the relay started with: a restart-only key changed by an earlier
    // reload still waits for the restart (the current configuration already holds its new value).
    const restartNeeded = planReload(started, next).restart;
    if (restartNeeded.length) {
      logger.warn({ keys: restartNeeded }, `config reloaded, but these settings keep their old value until a restart: ${restartNeeded.join(', ')}`);
    }
    logger.info({ applied: plan.live }, 'config reloaded');
    return { ok: true, error: null, applied: plan.live, restartNeeded };
  };
}
