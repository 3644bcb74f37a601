import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { DnsResolver } from '../core/resolver.js';
import type { BudgetRef, LimitTable } from './limits.js';

/**
 * Which budget a destination draws on (its BudgetRef), under the limits table of the moment: its
 * own domain rule, the MX rule whose suffix its MX hosts end in, or its own default budget.
 *
 * MX grouping: the MX hosts are looked up here with the injected resolver, once per
 * mxCacheTtlMs, and only when an mx: rule exists and the domain has no rule of its own. Learning
 * them from the last attempt's MX host would let the first connections to a new domain through
 * unlimited (the very burst a provider's limit is about), and the gate must know the budget
 * before it lets a connection open. A failed lookup is retried after mxFailureTtlMs (meanwhile:
 * the domain's own default budget).
 */
export interface MxGroupsDeps {
  resolver: Pick<DnsResolver, 'resolveMx'>;
  clock: Clock;
  logger: Logger;
  mxCacheTtlMs: number;
  mxFailureTtlMs: number;
  /** the limits table now (a reload swaps it; call forget() then) */
  table: () => LimitTable;
}

export function createMxGroups(deps: MxGroupsDeps) {
  const { clock, logger } = deps;
  const refs = new Map<string, BudgetRef>();
  const mx = new Map<string, { hosts: string[] | null; expires: number }>();
  const lookups = new Map<string, Promise<void>>();

  function refFor(domain: string): BudgetRef {
    let ref = refs.get(domain);
    if (ref) return ref;
    const table = deps.table();
    let hosts: string[] | null = null;
    if (table.needsMx(domain)) {
      const cached = mx.get(domain);
      hosts = cached?.hosts ?? null;
      if (!cached || cached.expires <= clock.now()) void lookup(domain);
      if (!cached) return table.resolve(domain, null); // not memoized: learn() first
    }
    ref = table.resolve(domain, hosts);
    refs.set(domain, ref);
    return ref;
  }

  function lookup(domain: string): Promise<void> {
    const pending = lookups.get(domain);
    if (pending) return pending;
    const p = deps.resolver
      .resolveMx(domain)
      .then(
        (records) => {
          const hosts = records.map((r) => r.exchange.toLowerCase().replace(/\.$/, '')).filter(Boolean);
          mx.set(domain, { hosts, expires: clock.now() + deps.mxCacheTtlMs });
        },
        (err: unknown) => {
          logger.debug({ domain, err: (err as Error).message }, 'throttle: MX lookup failed; the domain uses its own budget for now');
          mx.set(domain, { hosts: null, expires: clock.now() + deps.mxFailureTtlMs });
        },
      )
      .finally(() => {
        lookups.delete(domain);
        refs.delete(domain);
      });
    lookups.set(domain, p);
    return p;
  }

  return {
    refFor,
    /** Looks the domain's MX hosts up when its budget depends on them and they are not known yet; null: nothing to wait for. */
    learn(domain: string): Promise<void> | null {
      if (!deps.table().needsMx(domain)) return null;
      const cached = mx.get(domain);
      if (cached) {
        if (cached.expires <= clock.now()) void lookup(domain); // refresh behind; use what we know
        return null;
      }
      return lookup(domain);
    },
    /** The limits table changed: every destination's budget is resolved again. */
    forget(): void {
      refs.clear();
    },
  };
}
