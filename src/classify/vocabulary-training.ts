import { BOUNCE_CATEGORIES, type BounceCategory } from '../core/types.js';
import { modelFeatures } from './features.js';
import type { VocabularyData } from './vocabulary.js';

// Training of the vocabulary model (vocabulary.ts compiles what this returns). Used only by
// test/classify/fixtures/corpus/train-vocabulary.mjs, the cross-validation benches and tests:
// the running classifier loads the committed vocabulary-data.ts and never trains.

export interface TrainingSample {
  readonly text: string;
  readonly category: BounceCategory;
  readonly code?: number;
  readonly enhanced?: string | null;
}

export interface TrainingOptions {
  /** Features seen in fewer training texts are dropped (default 2). */
  minTexts?: number;
  /** L2 penalty per training text (default 0.002). */
  l2?: number;
  /** Full-batch Adam steps (default 300). */
  steps?: number;
  /** Stem length (default 0: no stems; see textFeatures() in features.ts). */
  stem?: number;
  /** Letter triples of each word as features (default false; see textFeatures() in features.ts). */
  trigrams?: boolean;
  /**
   * Class balance (default 0: every text weighs the same): each text weighs (n / (k n_c))^balance,
   * n_c the texts of its category, so with 1 every category weighs as much as any other in the
   * loss; weights are scaled to a mean of 1.
   */
  balance?: number;
}

/**
 * Fits the model by full-batch Adam on the mean cross-entropy plus an L2 penalty. Deterministic:
 * the same samples always give the same data, so the committed file can be checked against a
 * retraining.
 */
export function trainVocabulary(samples: readonly TrainingSample[], options: TrainingOptions = {}): VocabularyData {
  const minTexts = options.minTexts ?? 2;
  const l2 = options.l2 ?? 0.002;
  const steps = options.steps ?? 300;
  const stem = options.stem ?? 0;
  const trigrams = options.trigrams ?? false;
  const balance = options.balance ?? 0;
  const categories = [...BOUNCE_CATEGORIES];
  const k = categories.length;
  const index = new Map(categories.map((c, i) => [c, i]));
  const texts = categories.map(() => 0);
  const docs: { f: string[]; y: number }[] = [];
  const df = new Map<string, number>();
  for (const s of samples) {
    const y = index.get(s.category);
    if (y === undefined) continue;
    texts[y]!++;
    const f = modelFeatures(s.text, s.code ?? 0, s.enhanced ?? '', stem, trigrams);
    docs.push({ f, y });
    // A stem or triple may be listed more than once (once per word that has it): df counts texts.
    for (const x of new Set(f)) df.set(x, (df.get(x) ?? 0) + 1);
  }
  const names = [...df.keys()].filter((f) => df.get(f)! >= minTexts).sort();
  const id = new Map(names.map((f, i) => [f, i]));
  const rows = docs.map((d) => ({ y: d.y, f: Int32Array.from(d.f.map((x) => id.get(x) ?? -1).filter((i) => i >= 0)) }));
  const n = rows.length;
  const present = texts.filter((x) => x > 0).length;
  const classWeight = texts.map((x) => (x > 0 ? (n / (present * x)) ** balance : 0));
  const meanWeight = rows.reduce((sum, r) => sum + classWeight[r.y]!, 0) / n;
  const weightOf = classWeight.map((x) => x / meanWeight);
  const dim = (names.length + 1) * k; // the last block of k is the intercept
  const w = new Float64Array(dim);
  const g = new Float64Array(dim);
  const m = new Float64Array(dim);
  const v = new Float64Array(dim);
  const p = new Float64Array(k);
  const biasAt = names.length * k;
  const rate = 0.05;
  for (let step = 1; step <= steps; step++) {
    g.fill(0);
    for (const r of rows) {
      for (let c = 0; c < k; c++) p[c] = w[biasAt + c]!;
      for (const fi of r.f) for (let c = 0; c < k; c++) p[c]! += w[fi * k + c]!;
      let max = -Infinity;
      for (let c = 0; c < k; c++) if (p[c]! > max) max = p[c]!;
      let sum = 0;
      for (let c = 0; c < k; c++) sum += p[c] = Math.exp(p[c]! - max);
      const weight = weightOf[r.y]!;
      for (let c = 0; c < k; c++) {
        const d = ((p[c]! / sum - (c === r.y ? 1 : 0)) * weight) / n;
        g[biasAt + c]! += d;
        for (const fi of r.f) g[fi * k + c]! += d;
      }
    }
    for (let i = 0; i < biasAt; i++) g[i]! += l2 * w[i]!;
    const c1 = 1 - 0.9 ** step;
    const c2 = 1 - 0.999 ** step;
    for (let i = 0; i < dim; i++) {
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
      v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
      w[i]! -= (rate * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
    }
  }
  const milli = (x: number): number => Math.round(x * 1000);
  const weights: Record<string, number[]> = {};
  names.forEach((f, fi) => {
    const sparse: number[] = [];
    for (let c = 0; c < k; c++) {
      const x = milli(w[fi * k + c]!);
      if (Math.abs(x) >= 20) sparse.push(c, x);
    }
    if (sparse.length > 0) weights[f] = sparse;
  });
  return {
    categories,
    texts,
    bias: categories.map((_, c) => milli(w[biasAt + c]!)),
    weights,
    ...(stem > 0 ? { stem } : {}),
    ...(trigrams ? { trigrams } : {}),
  };
}
