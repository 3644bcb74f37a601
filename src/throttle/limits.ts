import { FerryError } from '../core/errors.js';
import type { WindowName } from './window.js';

/** A configured limit as stored (null: not set on this target). */
export interface LimitRule {
  readonly target: string;
  readonly perMinute: number | null;
  readonly perHour: number | null;
  readonly perDay: number | null;
  readonly connections: number | null;
  readonly perConnection: number | null;
}

/** Built-in values for fields no target sets. */
export interface LimitDefaults {
  connections: number;
  perConnection: number;
}

/** The limits one budget runs under, every field resolved. */
export interface EffectiveLimits {
  readonly rates: Readonly<Record<WindowName, number | null>>;
  readonly connections: number;
  readonly perConnection: number;
}

/** Which budget a domain draws on. */
export interface BudgetRef {
  /** The budget's key: the target for a domain or MX rule, the domain itself under 'default'. */
  readonly bucket: string;
  /** The limit that applies: 'default', the domain, or 'mx:suffix'. */
  readonly target: string;
  readonly limits: EffectiveLimits;
}

export const DEFAULT_TARGET = 'default';
// Checked label by label: one regex over the whole name would nest quantifiers (regex-safety test).
const DOMAIN_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$/;
const isDomain = (d: string) => d.length >= 1 && d.length <= 253 && d.split('.').every((l) => DOMAIN_LABEL.test(l));

/** 'default', 'example.com' or 'mx:google.com', lower-cased; anything else is a usage error. */
export function parseTarget(raw: string): string {
  const t = raw.trim().toLowerCase().replace(/\.$/, '');
  if (t === DEFAULT_TARGET) return t;
  const domain = t.startsWith('mx:') ? t.slice(3).replace(/^\./, '') : t;
  if (!isDomain(domain)) {
    throw new FerryError(
      'FERRY_ERR_USAGE',
      `limit target ${JSON.stringify(raw)}: expected "default", a recipient domain (gmail.com) or an MX host suffix (mx:google.com)`,
    );
  }
  return t.startsWith('mx:') ? `mx:${domain}` : domain;
}

/** Whether an MX host name is covered by a suffix ("google.com" covers "aspmx.l.google.com"). */
export function hostMatches(host: string, suffix: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === suffix || h.endsWith(`.${suffix}`);
}

/**
 * The limits compiled into an immutable lookup (STYLE 12: reload builds a new one and swaps it).
 * Precedence: the exact recipient domain, then the longest matching MX suffix, then 'default'.
 * A field a rule leaves unset falls back to the 'default' row, then to the built-in value.
 */
export class LimitTable {
  readonly rules: readonly LimitRule[];
  private readonly byDomain: ReadonlyMap<string, LimitRule>;
  /** MX suffix rules, longest suffix first. */
  private readonly mxRules: readonly { suffix: string; rule: LimitRule }[];
  private readonly fallback: LimitRule | null;
  private readonly builtIn: LimitDefaults;
  /** A stable fingerprint: equal fingerprints, equal limits. */
  readonly fingerprint: string;

  constructor(rules: readonly LimitRule[], builtIn: LimitDefaults) {
    this.rules = Object.freeze(rules.map((r) => Object.freeze({ ...r })));
    this.builtIn = Object.freeze({ ...builtIn });
    const byDomain = new Map<string, LimitRule>();
    const mx: { suffix: string; rule: LimitRule }[] = [];
    let fallback: LimitRule | null = null;
    for (const r of this.rules) {
      if (r.target === DEFAULT_TARGET) fallback = r;
      else if (r.target.startsWith('mx:')) mx.push({ suffix: r.target.slice(3), rule: r });
      else byDomain.set(r.target, r);
    }
    mx.sort((a, b) => b.suffix.length - a.suffix.length);
    this.byDomain = byDomain;
    this.mxRules = Object.freeze(mx);
    this.fallback = fallback;
    this.fingerprint = JSON.stringify([this.rules.map((r) => [r.target, r.perMinute, r.perHour, r.perDay, r.connections, r.perConnection]), builtIn]);
    Object.freeze(this);
  }

  /** true when the domain's budget depends on its MX hosts (an MX rule exists and no domain rule). */
  needsMx(domain: string): boolean {
    return this.mxRules.length > 0 && !this.byDomain.has(domain);
  }

  /** The budget for a domain; `mxHosts` are its MX host names when known. */
  resolve(domain: string, mxHosts: readonly string[] | null): BudgetRef {
    const exact = this.byDomain.get(domain);
    if (exact) return { bucket: domain, target: domain, limits: this.effective(exact) };
    if (mxHosts && this.mxRules.length) {
      for (const { suffix, rule } of this.mxRules) {
        if (mxHosts.some((h) => hostMatches(h, suffix))) return { bucket: rule.target, target: rule.target, limits: this.effective(rule) };
      }
    }
    return { bucket: domain, target: DEFAULT_TARGET, limits: this.effective(this.fallback) };
  }

  /** The limits of a configured target (for `ferry limits list`). */
  forTarget(target: string): EffectiveLimits {
    return this.effective(this.rules.find((r) => r.target === target) ?? null);
  }

  private effective(rule: LimitRule | null): EffectiveLimits {
    const d = this.fallback;
    const pick = (k: 'perMinute' | 'perHour' | 'perDay' | 'connections' | 'perConnection') => rule?.[k] ?? d?.[k] ?? null;
    return Object.freeze({
      rates: Object.freeze({ minute: pick('perMinute'), hour: pick('perHour'), day: pick('perDay') }),
      connections: pick('connections') ?? this.builtIn.connections,
      perConnection: pick('perConnection') ?? this.builtIn.perConnection,
    });
  }
}
