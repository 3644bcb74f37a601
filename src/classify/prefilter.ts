/**
 * A literal prefilter for the rule table. Most replies match none of most rules, and testing
 * dozens of case-insensitive regexes over a long reply is what costs. Each rule pattern is
 * read once to find literals that any match must contain (for `/\bno such (?:user|mailbox)/`
 * that is "no such "); one Aho–Corasick pass over the reply then says which rules could match,
 * and only those regexes run. The answer is exact: a rule is skipped only when a text cannot
 * match it. Case folding is only certain for ASCII, so a reply with any other character skips
 * the prefilter and every rule is tested.
 *
 * Non-ASCII characters cannot take part in an ASCII literal under a non-Unicode /i regex
 * (ECMAScript's case-insensitive match never folds a non-ASCII character onto an ASCII one
 * without the u flag), so they only break runs; groups that have a non-ASCII literal are
 * reported present whenever the text has any non-ASCII character.
 */

/** One parsed regex atom with the least number of times it must occur. */
type Atom =
  | { kind: 'lit'; ch: string; min: number; single: boolean }
  | { kind: 'other'; min: number }
  | { kind: 'assert' }
  | { kind: 'group'; alts: Atom[][]; min: number; single: boolean };

const MIN_LITERAL = 2;

/**
 * Words found in most replies. A literal that is (or contains) one of them says little, so
 * another literal of the same pattern is preferred when there is one.
 */
const COMMON_WORDS = /\b(?:mail|e?mails?|messages?|users?|address(?:es)?|recipients?|rejected|domains?|host|sender|server|not|the|from|invalid|denied|please|error|account|mailbox|for|to|of|in|on|is|by|no|your|this|that|with|too|limit|count|unknown)\b/;

/** How selective a literal is likely to be: longer is better, a common word is worse. */
function literalScore(lit: string): number {
  return COMMON_WORDS.test(lit.trim()) && lit.trim().split(' ').length === 1 ? lit.length - 4 : lit.length;
}

/** Parses enough regex syntax to tell literals from everything else. */
function parseAlternatives(src: string, pos: { i: number }): Atom[][] {
  const alts: Atom[][] = [[]];
  while (pos.i < src.length) {
    const c = src[pos.i]!;
    if (c === ')') return alts;
    if (c === '|') {
      alts.push([]);
      pos.i++;
      continue;
    }
    let atom: Atom;
    if (c === '\\') {
      const e = src[pos.i + 1] ?? '';
      pos.i += 2;
      if (e === 'b' || e === 'B') atom = { kind: 'assert' };
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(pos.i, pos.i + 4))) {
        atom = { kind: 'lit', ch: String.fromCharCode(parseInt(src.slice(pos.i, pos.i + 4), 16)), min: 1, single: true };
        pos.i += 4;
      } else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(src.slice(pos.i, pos.i + 2))) {
        atom = { kind: 'lit', ch: String.fromCharCode(parseInt(src.slice(pos.i, pos.i + 2), 16)), min: 1, single: true };
        pos.i += 2;
      } else if (/[A-Za-z0-9]/.test(e)) atom = { kind: 'other', min: 1 }; // classes, controls, backrefs
      else atom = { kind: 'lit', ch: e, min: 1, single: true }; // escaped punctuation
    } else if (c === '[') {
      let j = pos.i + 1;
      if (src[j] === '^') j++;
      while (j < src.length && src[j] !== ']') j += src[j] === '\\' ? 2 : 1;
      pos.i = j + 1;
      atom = { kind: 'other', min: 1 };
    } else if (c === '(') {
      let lookaround = false;
      pos.i++;
      if (src.startsWith('?:', pos.i)) pos.i += 2;
      else if (src.startsWith('?=', pos.i) || src.startsWith('?!', pos.i)) (pos.i += 2), (lookaround = true);
      else if (src.startsWith('?<=', pos.i) || src.startsWith('?<!', pos.i)) (pos.i += 3), (lookaround = true);
      else if (src.startsWith('?<', pos.i)) pos.i = src.indexOf('>', pos.i) + 1;
      const inner = parseAlternatives(src, pos);
      pos.i++; // ')'
      atom = lookaround ? { kind: 'assert' } : { kind: 'group', alts: inner, min: 1, single: true };
    } else if (c === '.') {
      pos.i++;
      atom = { kind: 'other', min: 1 };
    } else if (c === '^' || c === '$') {
      pos.i++;
      atom = { kind: 'assert' };
    } else {
      pos.i++;
      atom = { kind: 'lit', ch: c, min: 1, single: true };
    }
    // Quantifier: only the minimum matters, and whether more than one copy may follow.
    const q = /^(?:([?*+])|\{(\d+)(,\d*)?\})\??/.exec(src.slice(pos.i));
    if (q !== null && atom.kind !== 'assert') {
      pos.i += q[0].length;
      const min = q[1] === '?' || q[1] === '*' ? 0 : q[1] === '+' ? 1 : Number(q[2]);
      const single = q[1] === undefined && q[3] === undefined && min === 1;
      if (atom.kind === 'lit' || atom.kind === 'group') atom = { ...atom, min, single };
      else atom = { ...atom, min };
    }
    alts[alts.length - 1]!.push(atom);
  }
  return alts;
}

/** Most strings one run may stand for once alternations are multiplied into it. */
const MAX_RUN_VARIANTS = 16;

/** The fixed strings a group matches when each alternative is plain literal text, else null. */
function fixedAlternatives(alts: Atom[][]): string[] | null {
  const out: string[] = [];
  for (const alt of alts) {
    let text = '';
    for (const atom of alt) {
      if (atom.kind === 'lit' && atom.single) text += atom.ch;
      else if (atom.kind === 'group' && atom.single) {
        const inner = fixedAlternatives(atom.alts);
        if (inner === null || inner.length !== 1) return null;
        text += inner[0]!;
      } else return null;
    }
    out.push(text);
  }
  return out;
}

/**
 * Literals one of which every match of the sequence contains, or null if none can be said.
 * Zero-width assertions (\b, lookarounds) do not break a run; a group of plain alternatives
 * inside a run multiplies it ("(?:connection|thread) limit" gives "connection limit" and
 * "thread limit", far rarer than "limit" alone).
 */
function requiredInSequence(atoms: Atom[]): string[] | null {
  const candidates: string[][] = [];
  let run: string[] = [''];
  const close = () => {
    if (run.some((r) => r.length > 0)) candidates.push([...new Set(run)]);
    run = [''];
  };
  for (const atom of atoms) {
    if (atom.kind === 'assert') continue;
    if (atom.kind === 'lit' && atom.min >= 1) {
      run = run.map((r) => r + atom.ch.repeat(atom.min));
      if (!atom.single) close();
    } else if (atom.kind === 'group' && atom.min >= 1) {
      const fixed = atom.single ? fixedAlternatives(atom.alts) : null;
      if (fixed !== null && fixed.every((f) => f.length > 0) && run.length * fixed.length <= MAX_RUN_VARIANTS) {
        run = run.flatMap((r) => fixed.map((f) => r + f));
        continue;
      }
      close();
      const inner = requiredInAlternatives(atom.alts);
      if (inner !== null) candidates.push(inner);
    } else {
      close();
    }
  }
  close();
  let best: string[] | null = null;
  let bestScore = -1;
  for (const set of candidates) {
    if (Math.min(...set.map((s) => s.length)) < MIN_LITERAL) continue;
    // The weakest literal decides; every extra alternative is one more chance of a false alarm.
    const score = Math.min(...set.map(literalScore)) - 0.25 * (set.length - 1);
    if (score > bestScore) (best = set), (bestScore = score);
  }
  return best;
}

function requiredInAlternatives(alts: Atom[][]): string[] | null {
  const all: string[] = [];
  for (const alt of alts) {
    const req = requiredInSequence(alt);
    if (req === null) return null;
    all.push(...req);
  }
  return [...new Set(all)];
}

/**
 * Lower-case literals one of which is in every text the regex matches (compared
 * case-insensitively), or null when the pattern guarantees none.
 */
export function requiredLiterals(re: RegExp): string[] | null {
  const pos = { i: 0 };
  const alts = parseAlternatives(re.source, pos);
  if (pos.i < re.source.length) return null; // unbalanced: do not guess
  const req = requiredInAlternatives(alts);
  return req === null ? null : req.map((s) => s.toLowerCase());
}

export interface LiteralScanner {
  /**
   * Bit set of the groups (indexes given at build time) whose literals occur in the text;
   * for a text with non-ASCII characters, also every group that has a non-ASCII literal.
   */
  scan(text: string): Uint32Array;
  /** The same into a caller's buffer of `words` entries (cleared first): no allocation. */
  scanInto(text: string, found: Uint32Array): void;
  /** Length of the bit set. */
  readonly words: number;
}

/**
 * Literals are cut to this many characters in the automaton: a prefix of a required literal is
 * required too, so the scan stays exact in what it rules out, and the transition table stays
 * small enough for the cache (it is states × symbols).
 */
const MAX_SCAN_LITERAL = 16;

/** Builds an Aho–Corasick automaton (a full DFA) over ASCII literals, case-insensitively. */
export function createLiteralScanner(groups: readonly (readonly string[])[]): LiteralScanner {
  const words = Math.max(1, Math.ceil(groups.length / 32));
  const symbolOf = new Uint8Array(128);
  let symbols = 1; // 0 = any character no literal uses
  const literals: { text: string; group: number }[] = [];
  // Groups with a literal the automaton does not hold: present in any text with non-ASCII.
  const unscanned = new Uint32Array(words);
  groups.forEach((list, group) => {
    for (const lit of list) {
      if (!/^[\x00-\x7f]+$/.test(lit)) {
        unscanned[group >>> 5]! |= 1 << (group & 31);
        continue;
      }
      const text = lit.toLowerCase().slice(0, MAX_SCAN_LITERAL);
      literals.push({ text, group });
      for (const ch of text) {
        const code = ch.charCodeAt(0);
        if (symbolOf[code] === 0) {
          symbolOf[code] = symbols;
          const upper = ch.toUpperCase().charCodeAt(0);
          if (upper < 128 && upper !== code) symbolOf[upper] = symbols;
          symbols++;
        }
      }
    }
  });

  // Trie, as a flat table (-1: no edge); a literal adds at most one state per character.
  const maxStates = 1 + literals.reduce((n, l) => n + l.text.length, 0);
  const go = new Int32Array(maxStates * symbols).fill(-1);
  const outputs: number[][] = [[]];
  let states = 1;
  for (const { text, group } of literals) {
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const at = state * symbols + symbolOf[text.charCodeAt(i)]!;
      if (go[at]! < 0) {
        go[at] = states++;
        outputs.push([]);
      }
      state = go[at]!;
    }
    outputs[state]!.push(group);
  }

  // Breadth-first: failure links folded into a complete transition table.
  // Uint16 entries: half the table of Int32 ones, for up to 65,535 states.
  const delta = states < 0x10000 ? new Uint16Array(states * symbols) : new Int32Array(states * symbols);
  const fail = new Int32Array(states);
  // Each state's groups: its own literals' and, through the failure link, those of its
  // longest proper suffix that is also a state (Aho–Corasick's output function).
  const groupsAt: (readonly number[] | null)[] = new Array<readonly number[] | null>(states).fill(null);
  const groupsOf = (s: number, inherited: readonly number[] | null): readonly number[] | null => {
    if (outputs[s]!.length === 0) return inherited;
    return [...new Set([...(inherited ?? []), ...outputs[s]!])];
  };
  const queue: number[] = [];
  for (let a = 0; a < symbols; a++) {
    const next = go[a]!;
    if (next > 0) {
      delta[a] = next;
      groupsAt[next] = groupsOf(next, null);
      queue.push(next);
    }
  }
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    const row = s * symbols;
    const failRow = fail[s]! * symbols;
    for (let a = 0; a < symbols; a++) {
      const next = go[row + a]!;
      if (next < 0) {
        delta[row + a] = delta[failRow + a]!;
      } else {
        fail[next] = delta[failRow + a]!;
        groupsAt[next] = groupsOf(next, groupsAt[fail[next]!]!);
        delta[row + a] = next;
        queue.push(next);
      }
    }
  }

  // States renumbered in breadth-first order: a reply's scan spends nearly all its steps in the
  // root and the states a character or two deep, and with them at the front of the table their
  // rows share a few cache lines instead of being scattered over a table of a megabyte or more
  // (trie order). The same automaton, relabelled.
  const order = [0, ...queue];
  const renumber = new Int32Array(states);
  order.forEach((st, i) => (renumber[st] = i));
  const table = states < 0x10000 ? new Uint16Array(states * symbols) : new Int32Array(states * symbols);
  for (let i = 0; i < states; i++) {
    const from = order[i]! * symbols;
    for (let a = 0; a < symbols; a++) table[i * symbols + a] = renumber[delta[from + a]!]!;
  }

  // Group lists in one flat table: state s reports flatGroups[outStart[s] .. outStart[s + 1]).
  const outStart = new Int32Array(states + 1);
  const all: number[] = [];
  for (let i = 0; i < states; i++) {
    outStart[i] = all.length;
    for (const g of groupsAt[order[i]!] ?? []) all.push(g);
  }
  outStart[states] = all.length;
  const flatGroups = Int32Array.from(all);

  const scanInto = (text: string, found: Uint32Array): void => {
    found.fill(0);
    let state = 0;
    let nonAscii = false;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 128) {
        nonAscii = true;
        state = table[0]!; // symbol 0 from the root: no literal goes on through it
        continue;
      }
      state = table[state * symbols + symbolOf[code]!]!;
      for (let k = outStart[state]!, end = outStart[state + 1]!; k < end; k++) {
        const g = flatGroups[k]!;
        found[g >>> 5]! |= 1 << (g & 31);
      }
    }
    if (nonAscii) for (let w = 0; w < words; w++) found[w]! |= unscanned[w]!;
  };

  return Object.freeze({
    words,
    scan(text: string): Uint32Array {
      const found = new Uint32Array(words);
      scanInto(text, found);
      return found;
    },
    scanInto,
  });
}
