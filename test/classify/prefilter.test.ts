import t from 'tap';
import { readFileSync } from 'node:fs';
import { createClassifier } from '../../src/classify/classifier.js';
import { createLiteralScanner, requiredLiterals } from '../../src/classify/prefilter.js';
import { DEFAULT_RULES } from '../../src/classify/rules.js';

t.test('required literals are read from the pattern', async (t) => {
  t.same(requiredLiterals(/\bno such (?:user|mailbox)\b/i), ['no such user', 'no such mailbox'], 'a plain alternation multiplies the run');
  t.same(requiredLiterals(/\bNoSuchUser\b/), ['nosuchuser'], 'lower-cased');
  t.same(requiredLiterals(/users?/), ['user'], 'an optional letter is left out');
  t.same(requiredLiterals(/(?:foo)?bar/), ['bar']);
  t.same(requiredLiterals(/[abc]def/), ['def']);
  t.same(requiredLiterals(/\.com\b/), ['.com'], 'escaped punctuation is literal');
  t.same(requiredLiterals(/(?<!not )listed/), ['listed'], 'lookbehind text is not required');
  t.same(requiredLiterals(/\bspam\b|\bvirus/i), ['spam', 'virus']);
  t.same(requiredLiterals(/(?:disabled|locked) mailbox/), ['disabled mailbox', 'locked mailbox'], 'a common word joins its neighbours');
  t.same(requiredLiterals(/(?:disabled|locked)+ mailbox/), ['disabled', 'locked'], 'a common word is a poor filter');
  t.same(requiredLiterals(/(?:dis\w+|locked) zorblax/), [' zorblax'], 'a rare literal beats a set');
  t.same(requiredLiterals(/\bfoo\b bar/), ['foo bar'], 'assertions do not break a run');
  t.same(requiredLiterals(/(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)xyz/), ['xyz'], 'too many variants: the run is cut');
  t.same(requiredLiterals(/x{2}yz/), ['xx'], 'a counted repeat ends the run');
  t.same(requiredLiterals(/\u00e4rger/), ['ärger']);
  t.equal(requiredLiterals(/a|b/), null, 'single characters promise nothing useful');
  t.equal(requiredLiterals(/ab*c/), null);
  t.equal(requiredLiterals(/\d{3}|foo/), null, 'one branch without a literal spoils the set');
  t.equal(requiredLiterals(/.*/), null);
});

t.test('the scanner finds literal groups case-insensitively', async (t) => {
  const scanner = createLiteralScanner([['abc'], ['bcd', 'xyz'], ['zzz'], ['ärger']]);
  t.same([...scanner.scan('zzABCD')!], [0b0011]);
  t.same([...scanner.scan('abxYz')!], [0b0010]);
  t.same([...scanner.scan('zzzz')!], [0b0100], 'overlapping occurrences');
  t.same([...scanner.scan('nothing here')!], [0]);
  // Non-ASCII characters break literals; groups with a non-ASCII literal are then reported
  // present (the automaton holds ASCII only), so their patterns are tested.
  t.same([...scanner.scan('héllo abc')], [0b1001]);
  t.same([...scanner.scan('ab\u00e9c')], [0b1000], 'a literal does not run through a non-ASCII character');
  // U+212A KELVIN SIGN is not 'k' for a regex without the u flag.
  t.equal(/k/i.test('\u212a'), false);
  const many = createLiteralScanner(Array.from({ length: 40 }, (_, i) => [`w${i}x`]));
  t.same([...many.scan('w1x w39x')!], [0b10, 1 << 7], 'more than 32 groups');
});

t.test('every rule in the default table gets a prefilter', async (t) => {
  for (const r of DEFAULT_RULES) {
    if (r.text === undefined) continue;
    for (const re of r.text instanceof RegExp ? [r.text] : r.text) {
      t.not(requiredLiterals(re), null, `${r.id}: ${re.source.slice(0, 60)}`);
    }
  }
});

/** Deterministic pseudo-random numbers, so a failure can be reproduced. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

t.test('the prefilter never changes a verdict', async (t) => {
  const texts: string[] = [];
  for (const name of ['bounce-replies.tsv', 'extra-replies.tsv']) {
    for (const line of readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8').split('\n').slice(1)) {
      if (line.trim() !== '') texts.push(line.split('\t')[2]!);
    }
  }
  const rand = lcg(20260101);
  const variants: string[] = [];
  for (const text of texts) {
    variants.push(text, text.toUpperCase(), text.toLowerCase());
    // Splices of two replies: words from one rule family next to words from another.
    const other = texts[Math.floor(rand() * texts.length)]!;
    const cut = Math.floor(rand() * text.length);
    const cut2 = Math.floor(rand() * other.length);
    variants.push(text.slice(0, cut) + other.slice(cut2), other.slice(0, 3) + ' ' + text.slice(cut));
  }
  const fast = createClassifier();
  const plain = createClassifier(DEFAULT_RULES, { prefilter: false });
  let differences = 0;
  for (const text of variants) {
    const code = /^[245]\d\d/.test(text) ? Number(text.slice(0, 3)) : 550;
    const input = { kind: 'reply', reply: { code, enhanced: null, text } } as const;
    const a = fast.classify(input);
    const b = plain.classify(input);
    if (a.rule !== b.rule) {
      differences++;
      t.fail(`prefilter changed ${b.rule} to ${a.rule}: ${text.slice(0, 80)}`);
    }
  }
  t.equal(differences, 0, `${variants.length} texts classified the same with and without the prefilter`);
});
