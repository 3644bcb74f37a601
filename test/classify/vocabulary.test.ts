import t from 'tap';
import { createClassifier } from '../../src/classify/classifier.js';
import { modelFeatures, textFeatures } from '../../src/classify/features.js';
import { createVocabularyModel } from '../../src/classify/vocabulary.js';
import { trainVocabulary } from '../../src/classify/vocabulary-training.js';
import { VOCABULARY_DATA } from '../../src/classify/vocabulary-data.js';
import { BOUNCE_CATEGORIES } from '../../src/core/types.js';
// @ts-expect-error plain JavaScript shared with bench/classify-accuracy.mjs
import { loadCorpus } from './fixtures/corpus/corpus-data.mjs';
// @ts-expect-error plain JavaScript, the generator of vocabulary-data.ts
import { SETTINGS, sample } from './fixtures/corpus/train-vocabulary.mjs';

interface Row {
  split: string;
  text: string;
  category: (typeof BOUNCE_CATEGORIES)[number];
}

t.test('the committed data uses the feature settings chosen by cross-validation', async (t) => {
  t.equal(VOCABULARY_DATA.stem, SETTINGS.stem, 'stem length');
  t.equal(VOCABULARY_DATA.trigrams, SETTINGS.trigrams, 'letter triples');
  // A run-together or oddly split wording still shares triples with the words the model knows.
  const model = createVocabularyModel(VOCABULARY_DATA);
  t.equal(BOUNCE_CATEGORIES[model.predict('mailboxfull', 552, '')], 'mailbox_full');
});

t.test('the committed vocabulary is exactly what the development rows teach (no held-out row in it)', async (t) => {
  const rows = [...(loadCorpus() as Row[]).filter((r) => r.split === 'dev'), ...(loadCorpus({ older: true }) as Row[])];
  const trained = trainVocabulary(rows.map(sample), { minTexts: SETTINGS.minTexts, l2: SETTINGS.l2, stem: SETTINGS.stem, trigrams: SETTINGS.trigrams });
  const { minProbability, ...committed } = VOCABULARY_DATA;
  t.same(trained, committed, 'regenerate with test/classify/fixtures/corpus/train-vocabulary.mjs after a corpus change');
  t.equal(minProbability, SETTINGS.minProbability, 'the threshold chosen by cross-validation is stored with the data');
});

t.test('a confident model answers; an unsure one leaves the reply to the code rules', async (t) => {
  const data = trainVocabulary([
    { text: 'mailbox is full', category: 'mailbox_full' },
    { text: 'mailbox full quota', category: 'mailbox_full' },
    { text: 'ip listed on blocklist', category: 'blocked' },
    { text: 'your ip is listed', category: 'blocked' },
  ], { minTexts: 1 });
  const sure = createVocabularyModel(data, { minProbability: 0.3 });
  t.equal(BOUNCE_CATEGORIES[sure.predict('the ip is listed here')], 'blocked');
  t.equal(BOUNCE_CATEGORIES[sure.predict('full mailbox')], 'mailbox_full');
  t.equal(sure.predict('nothing known'), -1, 'no known word: no answer');
  t.equal(sure.predict('nothing known', 550, '5.2.2'), -1, 'codes alone are left to the code rules');
  t.equal(createVocabularyModel(data, { minProbability: 0.999 }).predict('the ip is listed here'), -1, 'not sure enough');
  const unsure = createVocabularyModel(data, { minProbability: 0.999 });
  t.equal(BOUNCE_CATEGORIES[unsure.predict('the ip is listed here', 0, '', 0)], 'blocked', 'a threshold given with the call wins');
  t.equal(unsure.predict('the ip is listed here', 0, ''), -1, 'the same text asked again at the model threshold');
  t.equal(BOUNCE_CATEGORIES[unsure.predict('mailbox is full', 0, '', 0)], 'mailbox_full', 'a new text is scored anew');
});

t.test('in the rule table, the vocabulary answers after the written rules with DESIGN.md semantics', async (t) => {
  const classifier = createClassifier();
  const v = classifier.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: '550 your ip address is listed, contact postmaster' } });
  t.match(v, { category: 'blocked', permanent: true, suppress: false, rule: 'vocabulary' });
  const v4 = classifier.classify({ kind: 'reply', reply: { code: 450, enhanced: null, text: '450 your ip address is listed, contact postmaster' } });
  t.match(v4, { category: 'blocked', permanent: false, rule: 'vocabulary' });
  // A written rule still decides first.
  t.match(classifier.classify({ kind: 'reply', reply: { code: 550, enhanced: null, text: '550 5.1.1 user unknown' } }), { rule: 'user-unknown' });
});

t.test('predict reads words in place and answers as scoring modelFeatures() does', async (t) => {
  // The reference: the model's definition, one feature list per text (as training sees it).
  const k = VOCABULARY_DATA.categories.length;
  const reference = (text: string, code: number, enhanced: string): number => {
    const score = VOCABULARY_DATA.bias.map((b) => b / 1000);
    const stem = VOCABULARY_DATA.stem ?? 0;
    const trigrams = VOCABULARY_DATA.trigrams ?? false;
    // Known words, pairs or stems (letter triples alone do not count).
    const f = textFeatures(text, stem);
    if (!f.some((x) => VOCABULARY_DATA.weights[x] !== undefined)) return -1;
    for (const x of modelFeatures(text, code, enhanced, stem, trigrams)) {
      const sparse = VOCABULARY_DATA.weights[x];
      if (sparse !== undefined) for (let i = 0; i + 1 < sparse.length; i += 2) score[sparse[i]!]! += sparse[i + 1]! / 1000;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (score[c]! > score[best]!) best = c;
    const p = 1 / score.reduce((s, x) => s + Math.exp(x - score[best]!), 0);
    return p >= VOCABULARY_DATA.minProbability! ? BOUNCE_CATEGORIES.indexOf(VOCABULARY_DATA.categories[best]!) : -1;
  };
  const model = createVocabularyModel(VOCABULARY_DATA);
  const rows = [...(loadCorpus() as (Row & { code: number | null; enhanced: string | null })[]), ...(loadCorpus({ older: true }) as (Row & { code: number | null; enhanced: string | null })[])];
  const probes = [
    'MAILBOX FULL', 'Mailbox Is Full; mailbox full', 'İSTANBUL kullanıcı bulunamadı', 'ΑΣ.Β ΣΑΣ', 'IP被拒绝 邮箱已满', 'user 123 unknown',
    'x'.repeat(30) + ' quota', 'ab1 2cd', '', '   ', 'Ärger: Postfach voll', 'ａｂｃ ＦＵＬＬ mailbox',
  ];
  let differ = 0;
  const cases = [...rows.map((r) => ({ text: r.text, code: r.code ?? 0, enhanced: r.enhanced ?? '' })), ...probes.map((text) => ({ text, code: 550, enhanced: '5.2.2' }))];
  for (const c of cases) {
    const got = model.predict(c.text, c.code, c.enhanced);
    const want = reference(c.text, c.code, c.enhanced);
    if (got !== want) {
      differ++;
      if (differ <= 5) t.fail(`${JSON.stringify(c)}: ${got} != ${want}`);
    }
  }
  t.equal(differ, 0, `${cases.length} texts answered alike`);
});
