/**
 * A small static analyzer for JavaScript regular expressions: finds the shapes that make a
 * backtracking engine slow (super-linear) on hostile input. Used by regex-safety.test.ts over
 * every regex in src/. Conservative: what it cannot prove simple, it reports.
 *
 * Reported shapes:
 * - nested: a repeated group that contains another repeated item (star height > 1), e.g. (a+)+,
 *   (?:[^\n]*\n)*;
 * - alternation: a repeated group whose alternatives can start with the same character, e.g. (a|ab)*;
 * - adjacent: two unbounded items in a row whose characters overlap, e.g. \s*[ \t]*, .*.*;
 * - leading: an unanchored pattern that starts with an unbounded item and goes on, e.g. \s+$
 *   (each failed start rescans the run: quadratic).
 */
export interface Finding {
  kind: 'nested' | 'alternation' | 'adjacent' | 'leading' | 'unparsed';
  detail: string;
}

type Atom =
  | { type: 'chars'; source: string }
  | { type: 'group'; alt: Item[][] }
  | { type: 'assert'; alt?: Item[][] }
  | { type: 'any' };
interface Item {
  atom: Atom;
  min: number;
  max: number;
  source: string;
}

class Parser {
  pos = 0;
  constructor(
    readonly src: string,
    readonly flags: string,
  ) {}

  parseAlt(): Item[][] {
    const branches: Item[][] = [this.parseSeq()];
    while (this.src[this.pos] === '|') {
      this.pos++;
      branches.push(this.parseSeq());
    }
    return branches;
  }

  parseSeq(): Item[] {
    const items: Item[] = [];
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      const start = this.pos;
      const atom = this.parseAtom();
      const [min, max] = this.parseQuantifier();
      items.push({ atom, min, max, source: this.src.slice(start, this.pos) });
    }
    return items;
  }

  parseAtom(): Atom {
    const c = this.src[this.pos]!;
    const start = this.pos;
    if (c === '(') {
      this.pos++;
      let assert = false;
      if (this.src.startsWith('?:', this.pos)) this.pos += 2;
      else if (this.src.startsWith('?=', this.pos) || this.src.startsWith('?!', this.pos)) {
        this.pos += 2;
        assert = true;
      } else if (this.src.startsWith('?<=', this.pos) || this.src.startsWith('?<!', this.pos)) {
        this.pos += 3;
        assert = true;
      } else if (this.src.startsWith('?<', this.pos)) this.pos = this.src.indexOf('>', this.pos) + 1;
      const alt = this.parseAlt();
      if (this.src[this.pos] !== ')') throw new Error(`unbalanced group at ${start}`);
      this.pos++;
      // Lookarounds match nothing themselves but run their own pattern: checked like groups.
      return assert ? { type: 'assert', alt } : { type: 'group', alt };
    }
    if (c === '^' || c === '$') {
      this.pos++;
      return { type: 'assert' };
    }
    if (c === '[') {
      this.pos++;
      if (this.src[this.pos] === '^') this.pos++;
      if (this.src[this.pos] === ']') this.pos++;
      while (this.pos < this.src.length && this.src[this.pos] !== ']') this.pos += this.src[this.pos] === '\\' ? 2 : 1;
      this.pos++;
      return { type: 'chars', source: this.src.slice(start, this.pos) };
    }
    if (c === '\\') {
      const n = this.src[this.pos + 1]!;
      this.pos += 2;
      if (n === 'b' || n === 'B') return { type: 'assert' };
      if (/[1-9]/.test(n) || n === 'k') {
        if (n === 'k') this.pos = this.src.indexOf('>', this.pos) + 1;
        return { type: 'any' };
      }
      if (n === 'x') this.pos += 2;
      else if (n === 'u') this.pos += this.src[this.pos] === '{' ? this.src.indexOf('}', this.pos) + 1 - this.pos : 4;
      else if (n === 'c') this.pos += 1;
      else if ((n === 'p' || n === 'P') && this.src[this.pos] === '{') this.pos = this.src.indexOf('}', this.pos) + 1;
      return { type: 'chars', source: this.src.slice(start, this.pos) };
    }
    this.pos++;
    return { type: 'chars', source: c };
  }

  parseQuantifier(): [number, number] {
    const c = this.src[this.pos];
    let q: [number, number] = [1, 1];
    if (c === '*') q = [0, Infinity];
    else if (c === '+') q = [1, Infinity];
    else if (c === '?') q = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos, this.pos + 24));
      if (!m) return q;
      this.pos += m[0].length - 1;
      q = [Number(m[1]), m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3])];
    } else return q;
    this.pos++;
    if (this.src[this.pos] === '?') this.pos++; // lazy: the same cost when the match fails
    return q;
  }
}

/** Characters probed to tell whether two character items overlap. */
const PROBES: string[] = [...Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)), '\u0100', '\u2028', '\u3000', '\ufeff', 'é', '€', '😀'];

function charsOf(atom: Atom, flags: string, memo: Map<string, boolean[]>): boolean[] {
  if (atom.type === 'any') return PROBES.map(() => true);
  if (atom.type === 'assert') return PROBES.map(() => false);
  if (atom.type === 'group') {
    // The characters any branch may start with (conservative: everything a first item may match).
    const out = PROBES.map(() => false);
    for (const branch of atom.alt) {
      for (const item of branch) {
        const set = charsOf(item.atom, flags, memo);
        set.forEach((v, i) => (out[i] = out[i] || v));
        if (item.min > 0 && item.atom.type !== 'assert') break;
      }
    }
    return out;
  }
  const key = `${atom.source}/${flags}`;
  let set = memo.get(key);
  if (!set) {
    const re = new RegExp(`^(?:${atom.source})$`, flags.replace(/[gym]/g, ''));
    set = PROBES.map((p) => re.test(p));
    memo.set(key, set);
  }
  return set;
}

const overlaps = (a: boolean[], b: boolean[]) => a.some((v, i) => v && b[i]);
const repeated = (i: Item) => i.max > 1;
const unbounded = (i: Item) => i.max === Infinity;

function containsRepeat(alt: Item[][]): Item | null {
  for (const branch of alt) {
    for (const item of branch) {
      if (repeated(item)) return item;
      if (item.atom.type === 'group') {
        const inner = containsRepeat(item.atom.alt);
        if (inner) return inner;
      }
    }
  }
  return null;
}

export function analyzeRegex(source: string, flags = ''): Finding[] {
  const findings: Finding[] = [];
  let alt: Item[][];
  try {
    const p = new Parser(source, flags);
    alt = p.parseAlt();
    if (p.pos !== source.length) throw new Error(`stopped at ${p.pos}`);
  } catch (err) {
    return [{ kind: 'unparsed', detail: (err as Error).message }];
  }
  const memo = new Map<string, boolean[]>();

  const visit = (branches: Item[][]): void => {
    for (const seq of branches) {
      for (let i = 0; i < seq.length; i++) {
        const item = seq[i]!;
        if (item.atom.type === 'assert' && item.atom.alt) visit(item.atom.alt);
        if (item.atom.type === 'group') {
          if (unbounded(item)) {
            const inner = containsRepeat(item.atom.alt);
            if (inner) findings.push({ kind: 'nested', detail: `${item.source} repeats ${inner.source}` });
            const firsts = item.atom.alt.map((b) => charsOf({ type: 'group', alt: [b] }, flags, memo));
            for (let a = 0; a < firsts.length; a++) {
              for (let b = a + 1; b < firsts.length; b++) {
                if (overlaps(firsts[a]!, firsts[b]!)) findings.push({ kind: 'alternation', detail: `${item.source}: alternatives ${a + 1} and ${b + 1} overlap` });
              }
            }
          }
          visit(item.atom.alt);
        }
        if (!unbounded(item)) continue;
        // The next item that must match a character (optional items in between are skipped over).
        for (let j = i + 1; j < seq.length; j++) {
          const next = seq[j]!;
          if (next.atom.type === 'assert') continue;
          if (unbounded(next) && overlaps(charsOf(item.atom, flags, memo), charsOf(next.atom, flags, memo))) {
            findings.push({ kind: 'adjacent', detail: `${item.source} then ${next.source}` });
          }
          if (next.min > 0) break;
        }
      }
    }
  };
  visit(alt);

  if (!flags.includes('y')) {
    for (const seq of alt) {
      const first = seq[0];
      if (first && first.atom.type !== 'assert' && unbounded(first) && seq.length > 1) {
        findings.push({ kind: 'leading', detail: `unanchored ${first.source} followed by ${seq.slice(1).map((s) => s.source).join('')}` });
      }
    }
  }
  return findings;
}
