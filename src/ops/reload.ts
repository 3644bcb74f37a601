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
