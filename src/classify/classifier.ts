import { BOUNCE_CATEGORIES, NETWORK_ERROR_KINDS } from '../core/types.js';
import type { Classification, Classifier, ClassifyInput, NetworkErrorKind } from '../core/types.js';
import { FerryError } from '../core/errors.js';
import { findEnhancedCode } from './parse-reply.js';
import { createLiteralScanner, requiredLiterals } from './prefilter.js';
import { CATEGORY_SEMANTICS, type BounceRule } from './rule-types.js';
import type { VocabularyModel } from './vocabulary.js';
import { DEFAULT_RULES } from './rules.js';

interface CompiledRule {
  readonly id: string;
  /** Text patterns, merged into as few regexes as their flags allow. */
  readonly text: readonly RegExp[];
  /** Bit n set: reply code class n allowed; 0 means any class. */
  readonly classMask: number;
  readonly codes: ReadonlySet<number> | null;
  readonly enhanced: RegExp | null;
  readonly errors: ReadonlySet<NetworkErrorKind> | null;
  readonly vocabulary: VocabularyModel | null;
  /** Verdicts of a vocabulary rule by category index (BOUNCE_CATEGORIES), per code class. */
  readonly vocabularyPermanentCode: readonly Classification[];
  readonly vocabularyTransientCode: readonly Classification[];
  /** Literals one of which any text match contains; null when the patterns promise none. */
  readonly literals: readonly string[] | null;
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

function compileError(message: string): FerryError {
  return new FerryError('FERRY_ERR_CONFIG', message, { phase: 'classify' });
}

/** Merges patterns that share flags into one alternation: one scan instead of several. */
function mergePatterns(id: string, text: BounceRule['text']): RegExp[] {
  if (text === undefined) return [];
  const list = text instanceof RegExp ? [text] : [...text];
  const byFlags = new Map<string, string[]>();
  for (const re of list) {
    if (!(re instanceof RegExp)) throw compileError(`bounce rule ${id}: text must be RegExp`);
    // Stateful flags would make results depend on the previous call.
    const flags = re.flags.replace(/[gy]/g, '');
    if (/\\[1-9]/.test(re.source)) throw compileError(`bounce rule ${id}: backreferences cannot be merged`);
    const sources = byFlags.get(flags) ?? [];
    sources.push(`(?:${re.source})`);
    byFlags.set(flags, sources);
  }
  return [...byFlags].map(([flags, sources]) => new RegExp(sources.join('|'), flags));
}

function compileRule(r: BounceRule, seen: Set<string>): CompiledRule {
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
  const vocabularyVerdicts = (permanentCode: boolean): Classification[] =>
    r.vocabulary === undefined
      ? []
      : BOUNCE_CATEGORIES.map((category) => {
          const s = CATEGORY_SEMANTICS[category];
          const permanent = s.permanent === 'by-code' ? permanentCode : s.permanent;
          return Object.freeze({ category, permanent, suppress: s.suppress && permanent, rule: r.id });
        });
  return Object.freeze({
    id: r.id,
    text: Object.freeze(mergePatterns(r.id, r.text)),
    classMask,
    codes: r.codes ? new Set(r.codes) : null,
    enhanced: r.enhanced ? new RegExp(r.enhanced.source, r.enhanced.flags.replace(/[gy]/g, '')) : null,
    errors: r.errors ? new Set(r.errors) : null,
    vocabulary: r.vocabulary ?? null,
    vocabularyPermanentCode: Object.freeze(vocabularyVerdicts(true)),
    vocabularyTransientCode: Object.freeze(vocabularyVerdicts(false)),
    literals: literalsOf(r.text),
    whenPermanentCode: verdict(r.permanent === 'by-code' ? true : r.permanent),
    whenTransientCode: verdict(r.permanent === 'by-code' ? false : r.permanent),
  });
}

function literalsOf(text: BounceRule['text']): string[] | null {
  if (text === undefined) return null;
  const all: string[] = [];
  for (const re of text instanceof RegExp ? [text] : text) {
    const lits = requiredLiterals(re);
    if (lits === null) return null;
    all.push(...lits);
  }
  return all;
}

function textMatches(rule: CompiledRule, text: string): boolean {
  const patterns = rule.text;
  if (patterns.length === 0) return true;
  for (let i = 0; i < patterns.length; i++) if (patterns[i]!.test(text)) return true;
  return false;
}

/**
 * Compiles a rule table into an immutable classifier. The table is checked (ids unique,
 * categories and error kinds known) and its patterns merged once; classify() is then a pure
 * first-match scan. A rule table without a catch-all still answers: 'other', by reply code.
 */
export interface ClassifierOptions {
  /** Skip rules whose required literals are absent (default true; false only to check it). */
  prefilter?: boolean;
}

export function createClassifier(rules: readonly BounceRule[] = DEFAULT_RULES, options: ClassifierOptions = {}): Classifier {
  const seen = new Set<string>();
  const compiled = rules.map((r) => compileRule(r, seen));
  const replyRules = Object.freeze(compiled.filter((r) => r.errors === null));
  // Prefilter group of each reply rule (-1: always tested).
  const groups: (readonly string[])[] = [];
  const groupOf = Int32Array.from(replyRules, (r) => {
    if (options.prefilter === false || r.literals === null) return -1;
    groups.push(r.literals);
    return groups.length - 1;
  });
  const scanner = groups.length > 0 ? createLiteralScanner(groups) : null;
  const errorRules = Object.freeze(compiled.filter((r) => r.errors !== null));
  const fallbackPermanent: Classification = Object.freeze({ category: 'other', permanent: true, suppress: false, rule: 'none' });
  const fallbackTransient: Classification = Object.freeze({ category: 'other', permanent: false, suppress: false, rule: 'none' });

  function classifyReply(code: number, enhancedCode: string | null, rawText: string): Classification {
    const cls = Math.floor(code / 100);
    const permanentCode = cls === 5;
    const enhanced = enhancedCode ?? findEnhancedCode(rawText) ?? '';
    const text = HAS_CONTINUATION_RE.test(rawText) ? rawText.replace(CONTINUATION_RE, ' ') : rawText;
    const present = scanner === null ? null : scanner.scan(text);
    for (let i = 0; i < replyRules.length; i++) {
      const r = replyRules[i]!;
      const g = groupOf[i]!;
      if (g >= 0 && present !== null && (present[g >>> 5]! & (1 << (g & 31))) === 0) continue;
      if (r.classMask !== 0 && (r.classMask & (1 << cls)) === 0) continue;
      if (r.codes !== null && !r.codes.has(code)) continue;
      if (r.enhanced !== null && !r.enhanced.test(enhanced)) continue;
      if (!textMatches(r, text)) continue;
      if (r.vocabulary !== null) {
        const ci = r.vocabulary.predict(text);
        if (ci < 0) continue;
        return permanentCode ? r.vocabularyPermanentCode[ci]! : r.vocabularyTransientCode[ci]!;
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
      if (input.kind === 'error') return classifyError(input.error, input.message ?? '');
      const { code, enhanced, text } = input.reply;
      return classifyReply(code, enhanced, text ?? '');
    },
  });
}

/** Whether a verdict asks the throttle to slow down for the destination. */
export function isRateLimit(c: Classification): boolean {
  return c.category === 'rate_limited';
}
