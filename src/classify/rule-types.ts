import type { BounceCategory, NetworkErrorKind } from '../core/types.js';
import type { VocabularyModel } from './vocabulary.js';

/** true / false, or 'by-code': permanent exactly when the reply code is 5xx. */
export type Permanence = boolean | 'by-code';

/**
 * One row of the bounce rule table. A rule matches when every condition it states holds;
 * the first matching rule in table order decides. Rules with `errors` apply only to network
 * failures (their `text` is tested on the failure message); all others only to replies.
 */
export interface BounceRule {
  readonly id: string;
  /** Case-insensitive patterns on the reply text; any one matching is enough. */
  readonly text?: RegExp | readonly RegExp[];
  /** Reply code classes (4 for 4xx, 5 for 5xx) the rule is limited to. */
  readonly codeClass?: readonly number[];
  /** Exact reply codes the rule is limited to. */
  readonly codes?: readonly number[];
  /**
   * Pattern on the RFC 3463 code (the one the reply leads with, else the first one found in
   * its text); tested on '' when the reply has none, so /^$/ means "no enhanced code".
   */
  readonly enhanced?: RegExp;
  /** Network failure kinds the rule applies to (instead of replies). */
  readonly errors?: readonly NetworkErrorKind[];
  /**
   * The learned vocabulary (vocabulary.ts): the rule matches when the model is confident, and
   * the category is the model's answer (its permanence and suppression by DESIGN.md's table);
   * `category` is then only what the rule is filed under.
   */
  readonly vocabulary?: VocabularyModel;
  /** With `vocabulary`: the least probability of the model's answer (default: the model's own). */
  readonly minProbability?: number;
  /**
   * A text rule that cross-validation shows often wrong: when the learned vocabulary of the
   * table disagrees with it at least this probably, the model's answer is taken instead
   * (rule id `vocabulary-over-<id>`).
   */
  readonly yieldsTo?: number;
  readonly category: BounceCategory;
  readonly permanent: Permanence;
  readonly suppress: boolean;
}

/** DESIGN.md "Bounce categories": what each category means for retry and suppression. */
export const CATEGORY_SEMANTICS: Readonly<Record<BounceCategory, { permanent: Permanence; suppress: boolean }>> =
  Object.freeze({
    user_unknown: { permanent: true, suppress: true },
    domain_invalid: { permanent: true, suppress: true },
    mailbox_disabled: { permanent: true, suppress: true },
    // A full mailbox is retried; a later stage suppresses only when it stays full.
    mailbox_full: { permanent: false, suppress: false },
    rate_limited: { permanent: false, suppress: false },
    blocked: { permanent: 'by-code', suppress: false },
    spam_content: { permanent: 'by-code', suppress: false },
    policy: { permanent: 'by-code', suppress: false },
    message_too_large: { permanent: true, suppress: false },
    temporary: { permanent: false, suppress: false },
    other: { permanent: 'by-code', suppress: false },
  });

type Conditions = Omit<BounceRule, 'id' | 'category' | 'permanent' | 'suppress'>;

/**
 * Builds a frozen table row whose permanence and suppression follow the category's meaning,
 * so a row cannot silently contradict DESIGN.md; `overrides` is for the rare deliberate
 * exception (a TLS failure is policy, yet never permanent).
 */
export function rule(
  id: string,
  category: BounceCategory,
  conditions: Conditions,
  overrides: { permanent?: Permanence; suppress?: boolean } = {},
): BounceRule {
  const semantics = CATEGORY_SEMANTICS[category];
  const text = conditions.text;
  return Object.freeze({
    id,
    ...conditions,
    ...(Array.isArray(text) ? { text: Object.freeze([...text]) } : {}),
    ...(conditions.codeClass ? { codeClass: Object.freeze([...conditions.codeClass]) } : {}),
    ...(conditions.codes ? { codes: Object.freeze([...conditions.codes]) } : {}),
    ...(conditions.errors ? { errors: Object.freeze([...conditions.errors]) } : {}),
    category,
    permanent: overrides.permanent ?? semantics.permanent,
    suppress: overrides.suppress ?? semantics.suppress,
  });
}
