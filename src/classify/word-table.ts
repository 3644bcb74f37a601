/**
 * A fixed set of words, each with a number, looked up by a range of a larger string without
 * cutting it out: the learned vocabulary reads every word of a reply, and a `slice()` plus a
 * `toLowerCase()` per word (two strings, then a hash of the new one) cost more than the model's
 * arithmetic. Open addressing over an FNV-1a hash of the UTF-16 code units; built once, never
 * changed.
 */
export interface WordTable {
  /** Number of `text[start, end)` (A–Z read as a–z when `lowerAscii`), or -1 if it is no word of the table. */
  find(text: string, start: number, end: number, lowerAscii: boolean): number;
  /**
   * find() of an ASCII range (read lower-cased) whose hash the caller computed while reading it:
   * FNV-1a from FNV_OFFSET by FNV_PRIME over its code units with A–Z as a–z, as an unsigned integer.
   */
  findHashed(text: string, start: number, end: number, hash: number): number;
  readonly size: number;
}

function codeAt(text: string, i: number, lowerAscii: boolean): number {
  const c = text.charCodeAt(i);
  return lowerAscii && c >= 65 && c <= 90 ? c + 32 : c;
}

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

function hashRange(text: string, start: number, end: number, lowerAscii: boolean): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ codeAt(text, i, lowerAscii), FNV_PRIME);
  return h >>> 0;
}

/** Numbers the words in the order given (a repeated word keeps its first number). */
export function createWordTable(words: readonly string[]): WordTable {
  let slots = 16;
  while (slots < words.length * 2) slots *= 2;
  const mask = slots - 1;
  const ids = new Int32Array(slots).fill(-1);
  const keys: string[] = [];
  const probe = (text: string, start: number, end: number, hash: number, lowerAscii: boolean): number => {
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = ids[slot]!;
      if (id < 0) return -1;
      const key = keys[id]!;
      if (key.length !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (key.charCodeAt(i) !== codeAt(text, start + i, lowerAscii)) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
  };
  const find = (text: string, start: number, end: number, lowerAscii: boolean): number => probe(text, start, end, hashRange(text, start, end, lowerAscii), lowerAscii);
  const findHashed = (text: string, start: number, end: number, hash: number): number => probe(text, start, end, hash, true);
  for (const word of words) {
    if (find(word, 0, word.length, false) >= 0) continue;
    let slot = hashRange(word, 0, word.length, false) & mask;
    while (ids[slot]! >= 0) slot = (slot + 1) & mask;
    ids[slot] = keys.length;
    keys.push(word);
  }
  return Object.freeze({ find, findHashed, size: keys.length });
}
