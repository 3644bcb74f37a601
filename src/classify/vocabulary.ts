import { BOUNCE_CATEGORIES, type BounceCategory } from '../core/types.js';

/**
 * The last word on a reply whose text none of the hand-written rules recognised: a table of
 * words and word pairs counted per category over the development part of the labelled corpus
 * (test/classify/fixtures/corpus; never its held-out fifth), read as a naive Bayes model. It
 * generalises where the rules cannot: a reply phrased in a way nobody wrote a pattern for
 * still shares words with replies of its kind ("mailbox" + "capacity", "ip" + "listed").
 *
 * It is data like the rules: built once by test/classify/fixtures/corpus/train-vocabulary.mjs,
 * committed as vocabulary-data.ts, compiled at start into an immutable model. It answers only
 * when it is clearly more sure of one category than of any other; otherwise the code rules
 * after it decide, as they did before it existed.
 */
export interface VocabularyData {
  /** Category order of every count array below. */
  readonly categories: readonly BounceCategory[];
  /** Training texts per category. */
  readonly texts: readonly number[];
  /** Feature → [category index, texts of that category containing it, …]. */
  readonly features: Readonly<Record<string, readonly number[]>>;
  /** The confidence margin chosen with the data (train-vocabulary.mjs --cv), when stored with it. */
  readonly minMargin?: number;
}

export interface VocabularyModel {
  /** Index into BOUNCE_CATEGORIES of the confident answer, or -1 when there is none. */
  predict(text: string): number;
}

/** Longest token kept; longer runs are identifiers (queue ids, hashes), not words. */
const MAX_TOKEN = 24;

function isWordChar(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
  // General punctuation, CJK punctuation and full-width forms' punctuation separate words.
  if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff00 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20)) return false;
  return c !== 0xa0 && c !== 0xfeff;
}

/** Scripts written without spaces: a run of them is cut into character pairs. */
function isUnspaced(c: number): boolean {
  return (c >= 0x2e80 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff);
}

function pushToken(text: string, start: number, end: number, tokens: string[]): void {
  const length = end - start;
  if (length < 2 || length > MAX_TOKEN) return;
  let digits = 0;
  let unspaced = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (isUnspaced(c)) unspaced = true;
  }
  // Numbers (codes, addresses, sizes) are read by other rules; mixed identifiers rarely repeat.
  if (digits === length || digits * 2 > length) return;
  if (!unspaced) {
    tokens.push(text.slice(start, end).toLowerCase());
    return;
  }
  for (let i = start; i + 1 < end; i++) tokens.push(text.slice(i, i + 2));
}

/** Words and adjacent word pairs of a text, each once, lower-cased. */
export function features(text: string): string[] {
  const tokens: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const word = i < text.length && isWordChar(text.charCodeAt(i));
    if (word && start < 0) start = i;
    else if (!word && start >= 0) {
      pushToken(text, start, i, tokens);
      start = -1;
    }
  }
  const out = new Set(tokens);
  for (let i = 0; i + 1 < tokens.length; i++) out.add(`${tokens[i]} ${tokens[i + 1]}`);
  return [...out];
}

export interface TrainingSample {
  readonly text: string;
  readonly category: BounceCategory;
}

/** Counts features per category; features seen in fewer than `minTexts` texts are dropped. */
export function trainVocabulary(samples: readonly TrainingSample[], minTexts = 2): VocabularyData {
  const categories = [...BOUNCE_CATEGORIES];
  const index = new Map(categories.map((c, i) => [c, i]));
  const texts = categories.map(() => 0);
  const counts = new Map<string, number[]>();
  for (const s of samples) {
    const ci = index.get(s.category);
    if (ci === undefined) continue;
    texts[ci]!++;
    for (const f of features(s.text)) {
      let row = counts.get(f);
      if (row === undefined) counts.set(f, (row = categories.map(() => 0)));
      row[ci]!++;
    }
  }
  const kept: Record<string, number[]> = {};
  for (const f of [...counts.keys()].sort()) {
    const row = counts.get(f)!;
    if (row.reduce((a, b) => a + b, 0) < minTexts) continue;
    const sparse: number[] = [];
    row.forEach((n, ci) => {
      if (n > 0) sparse.push(ci, n);
    });
    kept[f] = sparse;
  }
  return { categories, texts, features: kept };
}

export interface VocabularyOptions {
  /** Least log-odds lead of the best category over the second for an answer (default 2). */
  minMargin?: number;
  /** Least number of known features a text must have for an answer (default 1). */
  minFeatures?: number;
}

/**
 * Bernoulli-style naive Bayes over the features present, Laplace-smoothed. Weights are
 * computed once here; predict() allocates only the feature list of its text.
 */
export function createVocabularyModel(data: VocabularyData, options: VocabularyOptions = {}): VocabularyModel {
  const minMargin = options.minMargin ?? data.minMargin ?? 2;
  const minFeatures = options.minFeatures ?? 1;
  const k = data.categories.length;
  const globalIndex = data.categories.map((c) => BOUNCE_CATEGORIES.indexOf(c));
  if (globalIndex.some((i) => i < 0)) throw new Error('vocabulary: unknown category');
  const total = data.texts.reduce((a, b) => a + b, 0);
  const prior = data.texts.map((n) => Math.log((n + 1) / (total + k)));
  // A feature absent from a category's texts still gets this much (smoothing), per category.
  const absent = data.texts.map((n) => Math.log(1 / (n + 2)));
  const weights = new Map<string, Float64Array>();
  for (const [f, sparse] of Object.entries(data.features)) {
    const w = Float64Array.from(absent);
    for (let i = 0; i + 1 < sparse.length; i += 2) {
      const ci = sparse[i]!;
      w[ci] = Math.log((sparse[i + 1]! + 1) / (data.texts[ci]! + 2));
    }
    weights.set(f, w);
  }
  const score = new Float64Array(k);
  return Object.freeze({
    predict(text: string): number {
      score.set(prior);
      let known = 0;
      for (const f of features(text)) {
        const w = weights.get(f);
        if (w === undefined) continue;
        known++;
        for (let c = 0; c < k; c++) score[c]! += w[c]!;
      }
      if (known < minFeatures) return -1;
      let best = 0;
      let second = -1;
      for (let c = 1; c < k; c++) {
        if (score[c]! > score[best]!) (second = best), (best = c);
        else if (second < 0 || score[c]! > score[second]!) second = c;
      }
      return score[best]! - score[second]! >= minMargin ? globalIndex[best]! : -1;
    },
  });
}
