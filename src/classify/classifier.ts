import { BOUNCE_CATEGORIES, NETWORK_ERROR_KINDS } from '../core/types.js';
import type { Classification, Classifier, ClassifyInput, NetworkErrorKind } from '../core/types.js';
import { FerryError } from '../core/errors.js';
import { findEnhancedCode, MAX_CLASSIFIED_CHARS } from './parse-reply.js';
import { createLiteralScanner, requiredLiterals } from './prefilter.js';
import { CATEGORY_SEMANTICS, type BounceRule } from './rule-types.js';
import type { VocabularyModel } from './vocabulary.js';
import { DEFAULT_RULES } from './rules.js';
import { MODEL_OVERRIDES } from './model-overrides.js';

/** One text pattern and the literals one of which any match of it contains (null: none known). */
interface CompiledPattern {
  readonly re: RegExp;
  readonly literals: readonly string[] | null;
}

interface CompiledRule {
  readonly id: string;
  /**
   * Text patterns, kept apart: the prefilter tells, per pattern, whether its literals occur,
   * so a reply runs only the few patterns that can match instead of a rule's whole alternation.
   */
  readonly text: readonly CompiledPattern[];
  /** Bit n set: reply code class n allowed; 0 means any class. */
  readonly classMask: number;
  readonly codes: ReadonlySet<number> | null;
  readonly enhanced: RegExp | null;
  readonly errors: ReadonlySet<NetworkErrorKind> | null;
  readonly vocabulary: VocabularyModel | null;
  /** With `vocabulary`: least probability of its answer (undefined: the model's own). */
  readonly minProbability: number | undefined;
  /** Least probability at which the table's model overrides this rule (undefined: never). */
  readonly yieldsTo: number | undefined;
  /** The model's verdicts when it overrides this rule, by category index, per code class. */
  readonly overridePermanentCode: readonly Classification[];
  readonly overrideTransientCode: readonly Classification[];
  /** Verdicts of a vocabulary rule by category index (BOUNCE_CATEGORIES), per code class. */
  readonly vocabularyPermanentCode: readonly Classification[];
  readonly vocabularyTransientCode: readonly Classification[];
  /** Verdicts prepared at compile time, so classify() allocates nothing. */
  readonly whenPermanentCode: Classification;
  readonly whenTransientCode: Classification;
}

const CATEGORIES: ReadonlySet<string> = new Set(BOUNCE_CATEGORIES);
const ERROR_KINDS: ReadonlySet<string> = new Set(NETWORK_ERROR_KINDS);

/**
 * Continuation prefixes of a joined multi-line reply ("... does not 550-5.1.1 exist"), which
 * would otherwise split phrases in two. Only prefixes after the first are removed.
 */
const CONTINUATION_RE = /\s[2-5]\d\d[ -]#?(?:[245]\.[0-7]\.\d{1,3}\s+)?(?=\S)/g;
const HAS_CONTINUATION_RE = /\s[2-5]\d\d-/;

/** Distinct enhanced codes whose rule answers are remembered (then the memo starts again). */
const ENHANCED_MEMO_LIMIT = 4096;

function compileError(message: string): FerryError {
  return new FerryError('FERRY_ERR_CONFIG', message, { phase: 'classify' });
}

/** Checks and copies a rule's patterns; stateful flags would make results depend on the last call. */
function compilePatterns(id: string, text: BounceRule['text']): CompiledPattern[] {
  if (text === undefined) return [];
  const list = text instanceof RegExp ? [text] : [...text];
  return list.map((re) => {
    if (!(re instanceof RegExp)) throw compileError(`bounce rule ${id}: text must be RegExp`);
    const flags = re.flags.replace(/[gy]/g, '');
    // Unicode case folding maps some non-ASCII letters onto ASCII ones (U+017F onto 's'): the
    // ASCII-only literal scan would not be exact for such a pattern, so it is always run.
    const literals = /[uv]/.test(flags) ? null : requiredLiterals(re);
    return Object.freeze({ re: new RegExp(re.source, flags), literals: literals === null ? null : Object.freeze(literals) });
  });
}

function compileRule(r: BounceRule, seen: Set<string>, yieldsToOf: Readonly<Record<string, number>>, textRulesYieldTo: number | undefined): CompiledRule {
  if (typeof r.id !== 'string' || r.id === '') throw compileError('bounce rule without id');
  if (seen.has(r.id)) throw compileError(`duplicate bounce rule id ${r.id}`);
  seen.add(r.id);
  if (!CATEGORIES.has(r.category)) throw compileError(`bounce rule ${r.id}: unknown category ${String(r.category)}`);
  if (r.permanent !== true && r.permanent !== false && r.permanent !== 'by-code') {
    throw compileError(`bounce rule ${r.id}: permanent must be true, false or 'by-code'`);
  }
  let classMask = 0;
  for (const c of r.codeClass ?? []) {
    if (!Number.isInteger(c) || c < 1 || c > 5) throw compileError(`bounce rule ${r.id}: bad code class ${c}`);
    classMask |= 1 << c;
  }
  for (const kind of r.errors ?? []) {
    if (!ERROR_KINDS.has(kind)) throw compileError(`bounce rule ${r.id}: unknown error kind ${kind}`);
  }
  const verdict = (permanent: boolean): Classification =>
    Object.freeze({ category: r.category, permanent, suppress: r.suppress && permanent, rule: r.id });
  if (r.minProbability !== undefined && (r.vocabulary === undefined || !(r.minProbability >= 0 && r.minProbability <= 1))) {
    throw compileError(`bounce rule ${r.id}: minProbability needs a vocabulary and a probability`);
  }
  if (r.yieldsTo !== undefined && (r.vocabulary !== undefined || !(r.yieldsTo >= 0 && r.yieldsTo <= 1))) {
    throw compileError(`bounce rule ${r.id}: yieldsTo is a probability, for rules without a vocabulary`);
  }
  const modelVerdicts = (permanentCode: boolean, id: string): Classification[] =>
    BOUNCE_CATEGORIES.map((category) => {
      const s = CATEGORY_SEMANTICS[category];
      const permanent = s.permanent === 'by-code' ? permanentCode : s.permanent;
      return Object.freeze({ category, permanent, suppress: s.suppress && permanent, rule: id });
    });
  const vocabularyVerdicts = (permanentCode: boolean): Classification[] => (r.vocabulary === undefined ? [] : modelVerdicts(permanentCode, r.id));
  // A text rule without a model of its own yields at its own threshold, else at the table's.
  const textRule = r.vocabulary === undefined && r.errors === undefined && r.text !== undefined;
  const yieldsTo = r.yieldsTo ?? (textRule ? (Object.hasOwn(yieldsToOf, r.id) ? yieldsToOf[r.id] : textRulesYieldTo) : undefined);
  if (yieldsTo !== undefined && !(yieldsTo >= 0 && yieldsTo <= 1)) throw compileError(`bounce rule ${r.id}: yields to the model at a probability, not ${yieldsTo}`);
  const overrideVerdicts = (permanentCode: boolean): Classification[] =>
    yieldsTo === undefined ? [] : modelVerdicts(permanentCode, `vocabulary-over-${r.id}`);
  return Object.freeze({
    id: r.id,
    text: Object.freeze(compilePatterns(r.id, r.text)),
    classMask,
    codes: r.codes ? new Set(r.codes) : null,
    enhanced: r.enhanced ? new RegExp(r.enhanced.source, r.enhanced.flags.replace(/[gy]/g, '')) : null,
    errors: r.errors ? new Set(r.errors) : null,
    vocabulary: r.vocabulary ?? null,
    minProbability: r.minProbability,
    yieldsTo,
    overridePermanentCode: Object.freeze(overrideVerdicts(true)),
    overrideTransientCode: Object.freeze(overrideVerdicts(false)),
    vocabularyPermanentCode: Object.freeze(vocabularyVerdicts(true)),
    vocabularyTransientCode: Object.freeze(vocabularyVerdicts(false)),
    whenPermanentCode: verdict(r.permanent === 'by-code' ? true : r.permanent),
    whenTransientCode: verdict(r.permanent === 'by-code' ? false : r.permanent),
  });
}

function textMatches(rule: CompiledRule, text: string): boolean {
  const patterns = rule.text;
  if (patterns.length === 0) return true;
  for (let i = 0; i < patterns.length; i++) if (patterns[i]!.re.test(text)) return true;
  return false;
}

/**
 * Compiles a rule table into an immutable classifier. The table is checked (ids unique,
 * categories and error kinds known) and its patterns compiled once; classify() is then a pure
 * first-match scan. A rule table without a catch-all still answers: 'other', by reply code.
 */
export interface ClassifierOptions {
  /** Skip rules whose required literals are absent (default true; false only to check it). */
  prefilter?: boolean;
  /**
   * Rules (by id) that yield to the table's model at the given least probability when they name
   * no `yieldsTo` of their own (default MODEL_OVERRIDES).
   */
  yieldsTo?: Readonly<Record<string, number>>;
  /**
   * Least probability at which the table's model overrides every other text rule (default:
   * never). For screening by cross-validation (bench/classify-cv.mjs CV_YIELD): each such check
   * scores the reply with the model, which costs more than the rest of classify().
   */
  textRulesYieldTo?: number;
}

export function createClassifier(rules: readonly BounceRule[] = DEFAULT_RULES, options: ClassifierOptions = {}): Classifier {
  const seen = new Set<string>();
  const compiled = rules.map((r) => compileRule(r, seen, options.yieldsTo ?? MODEL_OVERRIDES, options.textRulesYieldTo));
  const replyRules = Object.freeze(compiled.filter((r) => r.errors === null));
  // Each reply rule's patterns with their prefilter group (-1: always tested).
  const groups: (readonly string[])[] = [];
  const patternsOf = replyRules.map((r) =>
    Object.freeze(
      r.text.map((p) => {
        if (options.prefilter === false || p.literals === null) return { re: p.re, group: -1 };
        groups.push(p.literals);
        return { re: p.re, group: groups.length - 1 };
      }),
    ),
  );
  const scanner = groups.length > 0 ? createLiteralScanner(groups) : null;
  // Groups are numbered in rule order, so the set bits of a scan, read upwards, give the rules
  // that can match in table order; rules with a pattern the prefilter cannot speak for (or
  // with no pattern at all) are always candidates and are merged in.
  const ruleOfGroup = Int32Array.from({ length: groups.length }, () => -1);
  const always: number[] = [];
  patternsOf.forEach((patterns, i) => {
    if (patterns.length === 0 || patterns.some((p) => p.group < 0)) always.push(i);
    for (const p of patterns) if (p.group >= 0) ruleOfGroup[p.group] = i;
  });
  const alwaysRules = Int32Array.from(always);
  // Classification is synchronous and never re-entered: one scan buffer serves every call.
  const present = scanner === null ? null : new Uint32Array(scanner.words);
  const errorRules = Object.freeze(compiled.filter((r) => r.errors !== null));
  // The model that weak rules yield to: the table's first learned vocabulary.
  const tableModel = replyRules.find((r) => r.vocabulary !== null)?.vocabulary ?? null;
  const fallbackPermanent: Classification = Object.freeze({ category: 'other', permanent: true, suppress: false, rule: 'none' });
  const fallbackTransient: Classification = Object.freeze({ category: 'other', permanent: false, suppress: false, rule: 'none' });

  // The rules' enhanced-code patterns, answered once per distinct status and remembered: a
  // reply no text rule recognised goes through a dozen of them, and a relay sees few distinct
  // statuses. Bounded, since a remote server chooses the status it sends.
  const enhancedRules = replyRules.filter((r) => r.enhanced !== null);
  const enhancedSlot = Int32Array.from(replyRules, (r) => enhancedRules.indexOf(r));
  const enhancedMemo = new Map<string, Uint8Array>();
  const enhancedVerdicts = (enhanced: string): Uint8Array => {
    let passes = enhancedMemo.get(enhanced);
    if (passes === undefined) {
      passes = Uint8Array.from(enhancedRules, (r) => (r.enhanced!.test(enhanced) ? 1 : 0));
      if (enhancedMemo.size >= ENHANCED_MEMO_LIMIT) enhancedMemo.clear();
      enhancedMemo.set(enhanced, passes);
    }
    return passes;
  };

  function classifyReply(code: number, enhancedCode: string | null, rawText: string): Classification {
    const cls = Math.floor(code / 100);
    const permanentCode = cls === 5;
    const enhanced = enhancedCode ?? findEnhancedCode(rawText) ?? '';
    // A continuation prefix has a '-': most replies have none, and includes() is cheaper than a regex.
    const text = rawText.includes('-') && HAS_CONTINUATION_RE.test(rawText) ? rawText.replace(CONTINUATION_RE, ' ') : rawText;
    let enhancedPasses: Uint8Array | null = null;
    if (scanner !== null) scanner.scanInto(text, present!);
    let nextAlways = 0;
    let word = 0;
    let bits = present === null ? 0 : present[0]!;
    let lastRule = -1;
    for (;;) {
      // The next candidate rule: the lower of the next always-tested rule and the rule of the
      // next set bit (skipping bits of a rule already tried).
      let fromBits = 0x7fffffff;
      if (present !== null) {
        for (;;) {
          while (bits === 0 && word + 1 < present.length) bits = present[++word]!;
          if (bits === 0) break;
          const g = word * 32 + (31 - Math.clz32(bits & -bits));
          const ri = ruleOfGroup[g]!;
          if (ri > lastRule) {
            fromBits = ri;
            break;
          }
          bits &= bits - 1;
        }
      } else fromBits = lastRule + 1 < replyRules.length ? lastRule + 1 : 0x7fffffff;
      const fromAlways = nextAlways < alwaysRules.length ? alwaysRules[nextAlways]! : 0x7fffffff;
      const i = fromBits < fromAlways ? fromBits : fromAlways;
      if (i === 0x7fffffff) break;
      if (i === fromAlways) nextAlways++;
      lastRule = i;
      const r = replyRules[i]!;
      if (r.classMask !== 0 && (r.classMask & (1 << cls)) === 0) continue;
      if (r.codes !== null && !r.codes.has(code)) continue;
      if (r.enhanced !== null) {
        enhancedPasses ??= enhancedVerdicts(enhanced);
        if (enhancedPasses[enhancedSlot[i]!] === 0) continue;
      }
      const patterns = patternsOf[i]!;
      if (patterns.length > 0) {
        let matched = false;
        for (let j = 0; j < patterns.length; j++) {
          const p = patterns[j]!;
          const g = p.group;
          if (g >= 0 && present !== null && (present[g >>> 5]! & (1 << (g & 31))) === 0) continue;
          if (p.re.test(text)) {
            matched = true;
            break;
          }
        }
        if (!matched) continue;
      }
      if (r.vocabulary !== null) {
        const ci = r.vocabulary.predict(text, code, enhanced, r.minProbability);
        if (ci < 0) continue;
        return permanentCode ? r.vocabularyPermanentCode[ci]! : r.vocabularyTransientCode[ci]!;
      }
      if (r.yieldsTo !== undefined && tableModel !== null) {
        const ci = tableModel.predict(text, code, enhanced, r.yieldsTo);
        if (ci >= 0 && BOUNCE_CATEGORIES[ci] !== r.whenPermanentCode.category) {
          return permanentCode ? r.overridePermanentCode[ci]! : r.overrideTransientCode[ci]!;
        }
      }
      return permanentCode ? r.whenPermanentCode : r.whenTransientCode;
    }
    return permanentCode ? fallbackPermanent : fallbackTransient;
  }

  function classifyError(kind: NetworkErrorKind, message: string): Classification {
    for (let i = 0; i < errorRules.length; i++) {
      const r = errorRules[i]!;
      if (!r.errors!.has(kind)) continue;
      if (!textMatches(r, message)) continue;
      // No reply code: 'by-code' rules are not permanent.
      return r.whenTransientCode;
    }
    return fallbackTransient;
  }

  return Object.freeze({
    classify(input: ClassifyInput): Classification {
      if (input.kind === 'error') return classifyError(input.error, (input.message ?? '').slice(0, MAX_CLASSIFIED_CHARS));
      const { code, enhanced, text } = input.reply;
      return classifyReply(code, enhanced, text === undefined ? '' : text.length > MAX_CLASSIFIED_CHARS ? text.slice(0, MAX_CLASSIFIED_CHARS) : text);
    },
  });
}

/** Whether a verdict asks the throttle to slow down for the destination. */
export function isRateLimit(c: Classification): boolean {
  return c.category === 'rate_limited';
}
