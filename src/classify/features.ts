/**
 * Feature extraction for the learned vocabulary (vocabulary.ts): what a reply's text and codes
 * are as the model sees them. Training reads the feature lists of textFeatures() and
 * modelFeatures(); the compiled model reads the same features in place, with the same word
 * boundaries (isWordChar, isUnspaced, MAX_TOKEN), and a test checks that both agree.
 */

/** Longest token kept; longer runs are identifiers (queue ids, hashes), not words. */
export const MAX_TOKEN = 24;

/** Whether a UTF-16 code unit belongs to a word (letters, digits, other scripts; not punctuation or spaces). */
export function isWordChar(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
  // General punctuation, CJK punctuation and full-width forms' punctuation separate words.
  if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff00 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20)) return false;
  return c !== 0xa0 && c !== 0xfeff;
}

/** Scripts written without spaces: a run of them is cut into character pairs. */
export function isUnspaced(c: number): boolean {
  return (c >= 0x2e80 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff);
}

function pushToken(text: string, start: number, end: number, tokens: string[], spaced: string[] | null): void {
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
    const word = text.slice(start, end).toLowerCase();
    tokens.push(word);
    spaced?.push(word);
    return;
  }
  for (let i = start; i + 1 < end; i++) tokens.push(text.slice(i, i + 2));
}

/**
 * The words of a text, lower-cased, in order (runs of unspaced scripts as character pairs);
 * `spaced` gets the words that are not such pairs.
 */
function tokenize(text: string, tokens: string[], spaced: string[] | null = null): void {
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const word = i < text.length && isWordChar(text.charCodeAt(i));
    if (word && start < 0) start = i;
    else if (!word && start >= 0) {
      pushToken(text, start, i, tokens, spaced);
      start = -1;
    }
  }
}

/**
 * Words and adjacent word pairs of a text, each once, lower-cased; with `stem` > 0, also the
 * first `stem` characters of each distinct longer word, marked '~' ("~rejec" for "rejected",
 * "rejecting", "rejection"): a crude stem that lets an unseen inflection, or a language's
 * longer compound, share evidence with the forms the corpus has. With `trigrams`, also each
 * distinct word's letter triples with a space at either end, marked '%' ("% ma", "%mai", …,
 * "%ed "): a misspelt, run-together or oddly split word ("mail box", "mailboxfull") and a
 * compound still share most of them with the words the corpus has. Runs of scripts written
 * without spaces are read as character pairs and get no stem and no triples (nor do the pairs of a run
 * that mixes them with Latin letters, "IP不在").
 *
 * Words and pairs count once per text; a stem or a triple counts once per distinct word that
 * has it, so the list may repeat them ("rejected, rejecting" gives "~rejec" twice). That makes
 * each known word's stem and triples one fixed sum the compiled model adds in one step
 * (vocabulary.ts) instead of a few dozen lookups per word.
 */
export function textFeatures(text: string, stem = 0, trigrams = false): string[] {
  const tokens: string[] = [];
  const spaced: string[] = [];
  tokenize(text, tokens, spaced);
  const words = new Set(tokens);
  const out = [...words];
  const pairs = new Set<string>();
  for (let i = 0; i + 1 < tokens.length; i++) pairs.add(`${tokens[i]} ${tokens[i + 1]}`);
  out.push(...pairs);
  const distinct = new Set(spaced);
  if (stem > 0) for (const w of distinct) if (w.length > stem) out.push(`~${w.slice(0, stem)}`);
  if (trigrams) {
    for (const w of distinct) {
      const s = ` ${w} `;
      for (let i = 0; i + 3 <= s.length; i++) out.push(`%${s.slice(i, i + 3)}`);
    }
  }
  return out;
}

/**
 * The text's features plus its codes as features of their own ('#' cannot occur in a word):
 * "#5" (class), "#550" (basic code), "#5.7.1" and "#5.7" (status and its class.subject).
 * A code of 0 or an empty status adds nothing.
 */
export function modelFeatures(text: string, code = 0, enhanced = '', stem = 0, trigrams = false): string[] {
  const out = textFeatures(text, stem, trigrams);
  if (code >= 100 && code < 600) {
    out.push(`#${Math.floor(code / 100)}`, `#${code}`);
  }
  if (enhanced !== '') {
    out.push(`#${enhanced}`);
    const second = enhanced.indexOf('.', 2);
    if (second > 0) out.push(`#${enhanced.slice(0, second)}`);
  }
  return out;
}
