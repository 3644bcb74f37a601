import t from 'tap';
import { createClassifier } from '../../src/classify/classifier.js';
import { MODEL_OVERRIDES } from '../../src/classify/model-overrides.js';
import { DEFAULT_RULES, rule } from '../../src/classify/rules.js';
import type { VocabularyModel } from '../../src/classify/vocabulary.js';
import { FNV_OFFSET, FNV_PRIME, createWordTable } from '../../src/classify/word-table.js';
import { BOUNCE_CATEGORIES } from '../../src/core/types.js';

/** A model that answers `category` whenever asked at a least probability up to `confidence`. */
function fakeModel(category: (typeof BOUNCE_CATEGORIES)[number], confidence: number): VocabularyModel & { asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    predict(_text, _code, _enhanced, least = 0.5) {
      asked.push(least);
      return least <= confidence ? BOUNCE_CATEGORIES.indexOf(category) : -1;
    },
  };
}

const reply = (text: string) => ({ kind: 'reply', reply: { code: 450, enhanced: null, text } }) as const;

/** A text rule, then the table's model (reached by no reply: it only serves the overrides). */
const table = (model: VocabularyModel, own?: number) => [
  rule('slow', 'temporary', { text: /\bslow\b/i, ...(own === undefined ? {} : { yieldsTo: own }) }),
  rule('fast', 'temporary', { text: /\bfast\b/i }),
  rule('model', 'other', { vocabulary: model, codes: [999] }),
];

t.test('every rule that yields by MODEL_OVERRIDES is a text rule of the table with no threshold of its own', async (t) => {
  for (const [id, p] of Object.entries(MODEL_OVERRIDES)) {
    const r = DEFAULT_RULES.find((x) => x.id === id);
    t.ok(r, `${id} is a rule of DEFAULT_RULES`);
    t.ok(r?.text !== undefined && r.vocabulary === undefined && r.errors === undefined, `${id} is a text rule`);
    t.equal(r?.yieldsTo, undefined, `${id} names no yieldsTo of its own (the entry would be ignored)`);
    t.ok(p > 0.5 && p <= 1, `${id}: a probability above the model's own threshold`);
  }
});

t.test('a rule yields to a confident model that disagrees, at the threshold the options give', async (t) => {
  const sure = fakeModel('rate_limited', 0.95);
  const c = createClassifier(table(sure), { yieldsTo: { slow: 0.9 } });
  t.match(c.classify(reply('450 slow down')), { category: 'rate_limited', permanent: false, rule: 'vocabulary-over-slow' });
  t.same(sure.asked, [0.9], 'the model is asked at the rule threshold');
  t.match(c.classify(reply('450 too fast')), { category: 'temporary', rule: 'fast' }, 'a rule not named does not yield');
  t.equal(sure.asked.length, 1, 'and costs no model score');

  const unsure = fakeModel('rate_limited', 0.85);
  t.match(createClassifier(table(unsure), { yieldsTo: { slow: 0.9 } }).classify(reply('450 slow down')), { rule: 'slow' }, 'an unsure model does not override');
  const agrees = fakeModel('temporary', 1);
  t.match(createClassifier(table(agrees), { yieldsTo: { slow: 0.9 } }).classify(reply('450 slow down')), { rule: 'slow' }, 'nor does one that agrees');
});

t.test('a rule threshold of its own wins; textRulesYieldTo reaches every other text rule', async (t) => {
  const sure = fakeModel('blocked', 0.8);
  const own = createClassifier(table(sure, 0.95), { yieldsTo: { slow: 0.5 } });
  t.match(own.classify(reply('450 slow down')), { rule: 'slow' }, 'the rule own 0.95 is not met by a model at 0.8');
  const all = createClassifier(table(sure), { yieldsTo: {}, textRulesYieldTo: 0.75 });
  t.match(all.classify(reply('450 slow down')), { category: 'blocked', rule: 'vocabulary-over-slow' });
  t.match(all.classify(reply('450 too fast')), { category: 'blocked', rule: 'vocabulary-over-fast' });
  t.match(createClassifier(table(sure), { yieldsTo: {} }).classify(reply('450 slow down')), { rule: 'slow' }, 'by default other rules stay firm');
  t.throws(() => createClassifier(table(sure), { yieldsTo: { slow: 1.5 } }), { code: 'FERRY_ERR_CONFIG' });
  t.throws(() => createClassifier(table(sure), { textRulesYieldTo: Number.NaN }), { code: 'FERRY_ERR_CONFIG' });
  t.throws(() => createClassifier(table(sure), { yieldsTo: { slow: -0.1 } }), { code: 'FERRY_ERR_CONFIG' });
});

t.test('the word table finds a range by the hash its reader computed', async (t) => {
  const words = createWordTable(['mailbox', 'full', 'postfach', 'voll', '满了']);
  const hashOf = (s: string): number => {
    let h = FNV_OFFSET;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h = Math.imul(h ^ (c >= 65 && c <= 90 ? c + 32 : c), FNV_PRIME);
    }
    return h >>> 0;
  };
  const text = 'Mailbox FULL: Postfach voll, quota';
  for (const [from, to] of [[0, 7], [8, 12], [14, 22], [23, 27], [29, 34]] as const) {
    const w = text.slice(from, to);
    t.equal(words.findHashed(text, from, to, hashOf(w)), words.find(text, from, to, true), `${w}: findHashed = find`);
  }
  t.equal(words.findHashed(text, 0, 7, hashOf('mailbox')), words.find('mailbox', 0, 7, false));
  t.equal(words.findHashed(text, 29, 34, hashOf('quota')), -1, 'a word not in the table');
});
