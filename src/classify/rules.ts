import type { BounceRule } from './rule-types.js';
import { NETWORK_RULES } from './rules-network.js';
import { EARLY_TEXT_RULES } from './rules-text-early.js';
import { LATE_TEXT_RULES } from './rules-text-late.js';
import { LANGUAGE_RULES } from './rules-languages.js';
import { MULTILINGUAL_LATE_RULES, MULTILINGUAL_RULES } from './rules-multilingual.js';
import { CODE_RULES } from './rules-codes.js';
import { rule } from './rule-types.js';
import { createVocabularyModel } from './vocabulary.js';
import { VOCABULARY_DATA } from './vocabulary-data.js';

export type { BounceRule, Permanence } from './rule-types.js';
export { CATEGORY_SEMANTICS, rule } from './rule-types.js';

/**
 * The bounce rule table, in the order it is consulted: network failures, then what the reply
 * text says (most specific meanings first), then the enhanced status code, then the reply
 * code class. The families live in their own files only to keep each readable; this is the
 * one table. The learned vocabulary (vocabulary.ts, words and codes together) answers after
 * the text rules and before the code-only rules, when no written rule recognised the text and
 * the model is confident (place and threshold chosen by cross-validation on development rows).
 */
const MODEL = createVocabularyModel(VOCABULARY_DATA);
/** Least probability of the model's best guess before the code-class fallbacks (bench/classify-cv.mjs). */
export const GUESS_PROBABILITY = 0;

/**
 * Text rules that cross-validation on the development rows shows often wrong (catch-all
 * wordings such as "policy", "blocked", "recipient rejected"), with the least probability at
 * which the learned vocabulary's disagreeing answer replaces theirs (bench/classify-cv.mjs: 0.7 in
 * session 8; 0.75 since the corpus grew in session 9, equal or better in every regime). The
 * rules whose overrides by a confident model gained five or more development rows net in
 * cross-validation in session 10 (spam-content, rate-limited, try-later, temporary-condition,
 * dns-trouble, at 0.8 and 0.9 alike) are not weak: each override check scores the reply with the
 * model, which costs more than the rest of classify(), and with even the cheapest two of them the
 * stream path of `ferry bounces classify` fell to its 200,000 lines/s floor on a quiet machine,
 * for 0.7–1.2 points in the half-table CV regimes, none in the whole table and no held-out change
 * (bench/RESULTS.md, issue 18 session 10, the lead's merge).
 */
export const WEAK_RULES: Readonly<Record<string, number>> = Object.freeze({
  'site-policy': 0.75,
  blocked: 0.75,
  'recipient-rejected': 0.75,
  'provider-block-codes': 0.75,
});

const weak = (rules: readonly BounceRule[]): BounceRule[] =>
  rules.map((r) => (WEAK_RULES[r.id] === undefined ? r : Object.freeze({ ...r, yieldsTo: WEAK_RULES[r.id] })));

export const DEFAULT_RULES: readonly BounceRule[] = Object.freeze([
  ...NETWORK_RULES,
  // A provider's own code (NetEase's HL:IFC …) says more than any wording around it; then the
  // everyday wordings in ten languages (an IP block that mentions spam or a virus is a block),
  // then the other language and provider rules.
  ...LANGUAGE_RULES.filter((r) => r.id.startsWith('netease-')),
  ...MULTILINGUAL_RULES,
  ...LANGUAGE_RULES.filter((r) => !r.id.startsWith('netease-')),
  ...weak(EARLY_TEXT_RULES),
  ...weak(LATE_TEXT_RULES),
  ...MULTILINGUAL_LATE_RULES,
  rule('vocabulary', 'other', { vocabulary: MODEL }),
  // The enhanced-code rules read one code; where none of them knows it, the model's best guess
  // (words and codes together) is more often right than 'temporary' or 'other' by code class.
  ...CODE_RULES.filter((r) => !r.id.startsWith('class-')),
  // (Not for a 2xx or 3xx reply: that is no failure the model was taught.)
  rule('vocabulary-guess', 'other', { vocabulary: MODEL, minProbability: GUESS_PROBABILITY, codeClass: [4, 5] }),
  rule('vocabulary-guess-no-code', 'other', { vocabulary: MODEL, minProbability: GUESS_PROBABILITY, codes: [0] }),
  ...CODE_RULES.filter((r) => r.id.startsWith('class-')),
]);
