import { BOUNCE_CATEGORIES, type BounceCategory } from '../core/types.js';
import { MAX_TOKEN, isUnspaced, isWordChar } from './features.js';
import { FNV_OFFSET, FNV_PRIME, createWordTable } from './word-table.js';

/**
 * The last word on a reply whose text none of the hand-written rules recognised: a
 * multinomial logistic regression over the reply's words, word pairs and codes (the basic
 * reply code, its class, the RFC 3463 status and its class.subject; features.ts), trained on the
 * development part of the labelled corpus (test/classify/fixtures/corpus; never its held-out
 * fifth). It generalises where the rules cannot: a reply phrased in a way nobody wrote a
 * pattern for still shares words with replies of its kind ("mailbox" + "capacity", "ip" +
 * "listed"), and the codes weigh in as evidence beside the words rather than as a verdict.
 *
 * It is data like the rules: built once by test/classify/fixtures/corpus/train-vocabulary.mjs,
 * committed as vocabulary-data.ts, compiled at start into an immutable model. It answers only
 * when its best category is probable enough; otherwise the code rules after it decide.
 */
export interface VocabularyData {
  /** Category order of every weight below. */
  readonly categories: readonly BounceCategory[];
  /** Training texts per category (for the record). */
  readonly texts: readonly number[];
  /** Intercept per category, in thousandths. */
  readonly bias: readonly number[];
  /** Feature → [category index, weight in thousandths, …] (weights near zero left out). */
  readonly weights: Readonly<Record<string, readonly number[]>>;
  /** Least probability of the best category for an answer, chosen with the data (--cv). */
  readonly minProbability?: number;
  /** Length of the word stems among the features (0 or absent: none; see textFeatures() in features.ts). */
  readonly stem?: number;
  /** Whether each word's letter triples are features too (see textFeatures() in features.ts). */
  readonly trigrams?: boolean;
}

export interface VocabularyModel {
  /**
   * Index into BOUNCE_CATEGORIES of the confident answer, or -1 when there is none (no known
   * word, or a best category less probable than `minProbability`, by default the model's own).
   */
  predict(text: string, code?: number, enhanced?: string, minProbability?: number): number;
}

/** Letter triples (three UTF-16 code units) → their rows: open addressing, small-integer keys only. */
class TripleTable<T> {
  private readonly mask: number;
  private readonly keys: Uint32Array;
  private readonly last: Uint16Array;
  private readonly slots: Int32Array;
  private readonly values: T[] = [];

  constructor(entries: readonly (readonly [string, T])[]) {
    let size = 16;
    while (size < entries.length * 2) size *= 2;
    this.mask = size - 1;
    this.keys = new Uint32Array(size);
    this.last = new Uint16Array(size);
    this.slots = new Int32Array(size).fill(-1);
    for (const [triple, value] of entries) {
      const a = triple.charCodeAt(0);
      const b = triple.charCodeAt(1);
      const c = triple.charCodeAt(2);
      if (this.get(a, b, c) !== undefined) continue;
      let slot = TripleTable.hash(a, b, c) & this.mask;
      while (this.slots[slot]! >= 0) slot = (slot + 1) & this.mask;
      this.keys[slot] = ((a << 16) | b) >>> 0;
      this.last[slot] = c;
      this.slots[slot] = this.values.length;
      this.values.push(value);
    }
  }

  private static hash(a: number, b: number, c: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77) ^ Math.imul(c, 0xc2b2ae3d)) >>> 7;
  }

  get(a: number, b: number, c: number): T | undefined {
    const key = ((a << 16) | b) >>> 0;
    for (let slot = TripleTable.hash(a, b, c) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot]!;
      if (i < 0) return undefined;
      if (this.keys[slot] === key && this.last[slot] === c) return this.values[i];
    }
  }
}

export interface VocabularyOptions {
  /** Least probability of the best category for an answer (default: the data's, else 0.5). */
  minProbability?: number;
}

/**
 * One feature's weights: its index into the model's flat arrays of (category, weight) pairs,
 * kept sparse and together (a reply adds a few hundred rows; one small array per row cost more
 * in memory traffic than the additions).
 */
type WeightRow = number;

/**
 * Compiles the weights once. predict() reads the reply's words in place (a word table looked up
 * by range, word pairs by the two words' numbers): no string per word, no feature list. It
 * answers exactly as scoring `modelFeatures(text, code, enhanced)` would.
 */
export function createVocabularyModel(data: VocabularyData, options: VocabularyOptions = {}): VocabularyModel {
  const minProbability = options.minProbability ?? data.minProbability ?? 0.5;
  const k = data.categories.length;
  const globalIndex = data.categories.map((c) => BOUNCE_CATEGORIES.indexOf(c));
  if (globalIndex.some((i) => i < 0)) throw new Error('vocabulary: unknown category');
  if (data.bias.length !== k) throw new Error('vocabulary: one intercept per category');
  const bias = Float64Array.from(data.bias, (x) => x / 1000);
  const rowStarts: number[] = [0];
  const rowCategories: number[] = [];
  const rowWeights: number[] = [];
  const rowOf = (sparse: readonly number[]): WeightRow => {
    for (let i = 0; i + 1 < sparse.length; i += 2) {
      const c = sparse[i]!;
      if (!(c >= 0 && c < k)) throw new Error('vocabulary: weight of an unknown category');
      rowCategories.push(c);
      rowWeights.push(sparse[i + 1]! / 1000);
    }
    rowStarts.push(rowCategories.length);
    return rowStarts.length - 2;
  };
  // Features by kind: codes ("#5", "#550", "#5.7.1", "#5.7"), word pairs ("a b"), words. Every
  // word that is a feature or half of one gets a number.
  const entries = Object.entries(data.weights);
  const classRows: (WeightRow | undefined)[] = [];
  const codeRows: (WeightRow | undefined)[] = [];
  const codeFeatureRows = new Map<string, WeightRow>();
  const pairs: [string, string, WeightRow][] = [];
  const wordList: string[] = [];
  const wordRows = new Map<string, WeightRow>();
  const stem = data.stem ?? 0;
  const stemList: string[] = [];
  const stemRowList: WeightRow[] = [];
  const trigrams = data.trigrams ?? false;
  const tripleList: [string, WeightRow][] = [];
  for (const [f, sparse] of entries) {
    if (f.charCodeAt(0) === 37 && f.length === 4) {
      // '%': a word's letter triple, looked up by its three code units.
      tripleList.push([f.slice(1), rowOf(sparse)]);
      continue;
    }
    if (f.charCodeAt(0) === 126) {
      // '~': a word stem, in a table of its own.
      stemList.push(f.slice(1));
      stemRowList.push(rowOf(sparse));
      continue;
    }
    if (f.charCodeAt(0) === 35) {
      // One row per feature, reachable from each place a reply's codes look for it.
      const rest = f.slice(1);
      const row = rowOf(sparse);
      codeFeatureRows.set(rest, row);
      if (/^[1-5]$/.test(rest)) classRows[Number(rest)] = row;
      else if (/^[1-5]\d\d$/.test(rest)) codeRows[Number(rest)] = row;
      continue;
    }
    const space = f.indexOf(' ');
    if (space > 0) {
      const first = f.slice(0, space);
      const second = f.slice(space + 1);
      pairs.push([first, second, rowOf(sparse)]);
      wordList.push(first, second);
    } else {
      wordRows.set(f, rowOf(sparse));
      wordList.push(f);
    }
  }
  const starts = Int32Array.from(rowStarts);
  const categoryAt = Uint8Array.from(rowCategories);
  const weightAt = Float64Array.from(rowWeights);
  /** Per row, the last prediction that added it (word pairs and codes count once per reply). */
  const seen = new Int32Array(starts.length);
  const tripleRows = new TripleTable(tripleList);
  const words = createWordTable(wordList);
  const stems = createWordTable(stemList);
  const rowOfStem: WeightRow[] = [];
  stemList.forEach((s, i) => (rowOfStem[stems.find(s, 0, s.length, false)] = stemRowList[i]!));
  const addRowTo = (into: Float64Array, at: number, row: WeightRow | undefined): void => {
    if (row === undefined) return;
    for (let i = starts[row]!, end = starts[row + 1]!; i < end; i++) into[at + categoryAt[i]!]! += weightAt[i]!;
  };
  // Each word of the table, once per reply, adds its own weights, its stem's and its letter
  // triples' (features.ts): one sum per word, made here. `knownWord`: the word or its stem is a
  // feature (triples alone do not make a reply known).
  const wordSums = new Float64Array(words.size * k);
  const knownWord = new Uint8Array(words.size);
  const summed = new Uint8Array(words.size);
  for (const w of wordList) {
    const id = words.find(w, 0, w.length, false);
    if (summed[id] === 1) continue;
    summed[id] = 1;
    const at = id * k;
    const own = wordRows.get(w);
    addRowTo(wordSums, at, own);
    let known = own !== undefined;
    let unspaced = false;
    for (let j = 0; j < w.length; j++) if (isUnspaced(w.charCodeAt(j))) unspaced = true;
    if (unspaced) {
      // A character pair: no stem, no triples.
      knownWord[id] = known ? 1 : 0;
      continue;
    }
    if (stem > 0 && w.length > stem) {
      const row = rowOfStem[stems.find(w, 0, stem, false)];
      addRowTo(wordSums, at, row);
      if (row !== undefined) known = true;
    }
    knownWord[id] = known ? 1 : 0;
    if (trigrams) {
      const s = ` ${w} `;
      for (let j = 0; j + 3 <= s.length; j++) addRowTo(wordSums, at, tripleRows.get(s.charCodeAt(j), s.charCodeAt(j + 1), s.charCodeAt(j + 2)));
    }
  }
  /** Per word of the table, the last prediction that added its sum. */
  const wordSeen = new Int32Array(words.size);
  // Word pairs: per first word, its second words' rows (small maps keyed by number).
  const pairsAfter: (Map<number, WeightRow> | null)[] = new Array<Map<number, WeightRow> | null>(words.size).fill(null);
  for (const [first, second, row] of pairs) {
    const a = words.find(first, 0, first.length, false);
    const b = words.find(second, 0, second.length, false);
    (pairsAfter[a] ??= new Map()).set(b, row);
  }

  const scores = new Float64Array(k);
  /** Word numbers of the reply's tokens in order (-1: a token the model does not know). */
  let ids = new Int32Array(64);
  let count = 0;
  let call = 0;
  let known = 0;
  // The words of this reply the table does not know, each read once (stems and triples count
  // per distinct word): an open-addressing set of text ranges, reset per reply by a stamp, so
  // an ASCII word is never cut out of the text.
  let unknownSlots = new Int32Array(64);
  let unknownStamp = new Int32Array(64);
  let unknownSource: string[] = [];
  let unknownFrom = new Int32Array(32);
  let unknownTo = new Int32Array(32);
  let unknownCount = 0;
  const rangeCode = (src: string, i: number, lowerAscii: boolean): number => {
    const c = src.charCodeAt(i);
    return lowerAscii && c >= 65 && c <= 90 ? c + 32 : c;
  };
  /** Whether the range is a new unknown word of this reply (then it is remembered). Ranges given with lowerAscii are ASCII words of the text. */
  const firstUnknown = (src: string, from: number, to: number, lowerAscii: boolean): boolean => {
    if (unknownCount * 2 >= unknownSlots.length) {
      // Grow and re-insert this reply's words.
      const size = unknownSlots.length * 2;
      unknownSlots = new Int32Array(size);
      unknownStamp = new Int32Array(size);
      const grownFrom = new Int32Array(size / 2);
      const grownTo = new Int32Array(size / 2);
      grownFrom.set(unknownFrom);
      grownTo.set(unknownTo);
      unknownFrom = grownFrom;
      unknownTo = grownTo;
      for (let u = 0; u < unknownCount; u++) {
        const us = unknownSource[u]!;
        let h = 0x811c9dc5;
        for (let i = unknownFrom[u]!; i < unknownTo[u]!; i++) h = Math.imul(h ^ rangeCode(us, i, true), 0x01000193);
        let slot = (h >>> 0) & (size - 1);
        while (unknownStamp[slot] === call) slot = (slot + 1) & (size - 1);
        unknownStamp[slot] = call;
        unknownSlots[slot] = u;
      }
    }
    let h = 0x811c9dc5;
    for (let i = from; i < to; i++) h = Math.imul(h ^ rangeCode(src, i, lowerAscii), 0x01000193);
    const mask = unknownSlots.length - 1;
    const length = to - from;
    for (let slot = (h >>> 0) & mask; ; slot = (slot + 1) & mask) {
      if (unknownStamp[slot] !== call) {
        unknownStamp[slot] = call;
        unknownSlots[slot] = unknownCount;
        unknownSource[unknownCount] = src;
        unknownFrom[unknownCount] = from;
        unknownTo[unknownCount] = to;
        unknownCount++;
        return true;
      }
      const u = unknownSlots[slot]!;
      const us = unknownSource[u]!;
      const uf = unknownFrom[u]!;
      if (unknownTo[u]! - uf !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        // Remembered ranges are read lower-cased too (a non-ASCII word's source is already lower-case).
        if (rangeCode(us, uf + i, true) !== rangeCode(src, from + i, lowerAscii)) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
  };
  const push = (id: number): void => {
    if (count === ids.length) {
      const grown = new Int32Array(ids.length * 2);
      grown.set(ids);
      ids = grown;
    }
    ids[count++] = id;
  };
  const add = (row: WeightRow | null | undefined): boolean => {
    if (row === null || row === undefined || seen[row] === call) return false;
    seen[row] = call;
    for (let i = starts[row]!, end = starts[row + 1]!; i < end; i++) scores[categoryAt[i]!]! += weightAt[i]!;
    return true;
  };
  /** A known word: its sum, once per reply. */
  const addWord = (id: number): void => {
    if (wordSeen[id] === call) return;
    wordSeen[id] = call;
    known += knownWord[id]!;
    const at = id * k;
    for (let c = 0; c < k; c++) scores[c]! += wordSums[at + c]!;
  };
  /** A word (not a character pair) the table does not know: its stem's weights and its triples', once per reply. */
  const addUnknown = (src: string, from: number, to: number, lowerAscii: boolean): void => {
    if (!firstUnknown(src, from, to, lowerAscii)) return;
    if (stem > 0 && to - from > stem) {
      const row = rowOfStem[stems.find(src, from, from + stem, lowerAscii)];
      if (row !== undefined) {
        addRowTo(scores, 0, row);
        known++;
      }
    }
    if (trigrams) {
      let a = 32;
      let b = 32;
      for (let j = from; j <= to; j++) {
        const c = j < to ? rangeCode(src, j, lowerAscii) : 32;
        if (j > from) addRowTo(scores, 0, tripleRows.get(a, b, c));
        a = b;
        b = c;
      }
    }
  };
  let lastBest = -1;
  let lastProbability = 0;
  // The last input scored: the table asks again (at another threshold) for the same reply.
  let lastText: string | null = null;
  let lastCode = 0;
  let lastEnhanced = '';
  /** Scores a reply into lastBest (index into data.categories, -1: no known word) and lastProbability. */
  const score = (text: string, code: number, enhanced: string): void => {
    if (text === lastText && code === lastCode && enhanced === lastEnhanced) return;
    lastText = text;
    lastCode = code;
    lastEnhanced = enhanced;
    lastBest = -1;
    call++;
    scores.set(bias);
    count = 0;
    known = 0;
    unknownCount = 0;
    if (unknownSource.length > 256) unknownSource = [];
    // One pass: each token's digits and scripts, and the hash of its ASCII letters lower-cased
    // (the word table's own hash), gathered as its characters go by.
    let start = -1;
    let digits = 0;
    let unspaced = false;
    let ascii = true;
    let hash = 0;
    const end = text.length;
    for (let i = 0; i <= end; i++) {
      const c = i < end ? text.charCodeAt(i) : 32;
      if (c < 128 ? (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) : isWordChar(c)) {
        if (start < 0) {
          start = i;
          digits = 0;
          unspaced = false;
          ascii = true;
          hash = FNV_OFFSET;
        }
        if (c < 128) {
          if (c <= 57) digits++;
          hash = Math.imul(hash ^ (c >= 65 && c <= 90 ? c + 32 : c), FNV_PRIME);
        } else {
          ascii = false;
          if (isUnspaced(c)) unspaced = true;
        }
        continue;
      }
      if (start < 0) continue;
      const from = start;
      start = -1;
      const length = i - from;
      if (length < 2 || length > MAX_TOKEN) continue;
      if (digits === length || digits * 2 > length) continue;
      if (unspaced) {
        // Character pairs: words (or not) of their own, with no stem of five letters and no triples.
        for (let j = from; j + 1 < i; j++) {
          const id = words.find(text, j, j + 2, false);
          push(id);
          if (id >= 0) addWord(id);
        }
        continue;
      }
      if (ascii) {
        const id = words.findHashed(text, from, i, hash >>> 0);
        push(id);
        if (id >= 0) addWord(id);
        else addUnknown(text, from, i, true);
      } else {
        const lower = text.slice(from, i).toLowerCase();
        const id = words.find(lower, 0, lower.length, false);
        push(id);
        if (id >= 0) addWord(id);
        else addUnknown(lower, 0, lower.length, false);
      }
    }
    for (let i = 0; i + 1 < count; i++) {
      const a = ids[i]!;
      const b = ids[i + 1]!;
      if (a < 0 || b < 0) continue;
      const after = pairsAfter[a];
      if (after !== null && add(after.get(b))) known++;
    }
    // Codes alone are the code rules' business: the model speaks only for known words.
    if (known === 0) return;
    if (code >= 100 && code < 600) {
      add(classRows[Math.floor(code / 100)]);
      add(codeRows[code]);
    }
    if (enhanced !== '') {
      add(codeFeatureRows.get(enhanced));
      const second = enhanced.indexOf('.', 2);
      if (second > 0) add(codeFeatureRows.get(enhanced.slice(0, second)));
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (scores[c]! > scores[best]!) best = c;
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(scores[c]! - scores[best]!);
    lastBest = best;
    lastProbability = 1 / sum;
  };
  return Object.freeze({
    predict(text: string, code = 0, enhanced = '', least = minProbability): number {
      score(text, code, enhanced);
      return lastBest >= 0 && lastProbability >= least ? globalIndex[lastBest]! : -1;
    },
  });
}
