// Cross-validated error analysis of the bounce classifier on the DEVELOPMENT rows only (the
// held-out fifth is never read). Needs `npm run build` first.
//
//   node bench/classify-cv.mjs [--misses] [--model-only] [--regimes] [--disagreements]
//
// Five folds of the development rows (the same seeded folds as train-vocabulary.mjs --cv): for
// each, the learned vocabulary is retrained without the fold and the whole rule table is run on
// the fold. Prints category and permanence agreement and the misses grouped by class (label ->
// verdict, the rule that answered, kind of row), largest classes first; `--misses` lists the
// rows of each class too. The hand-written rules were written from all development rows, so
// this is an optimistic estimate for them; it is honest for the model and its settings.
//
// `--regimes` also runs the table with half its text rules left out (two seeded draws of which
// half, per fold) and with none of them (the model and the code rules only). A reply phrased
// as no rule was written for reaches the model and the fallbacks far more often than a
// development row does; these regimes show how a setting does for such replies, which the
// whole-table figure hides (it barely moves when only rows no rule knows change).
//
// `--disagreements` prints, after the figures, one tab-separated line per development row whose
// CV verdict's category differs from its label, in every regime run: `D`, regime, id, label,
// verdict, rule, code, status, basis, text (the list the label audit reads, corpus README
// "Labelling guide"; development rows only, like everything here).
//
// Settings (defaults: the committed ones, train-vocabulary.mjs SETTINGS and rules.ts):
//   CV_L2, CV_MIN_TEXTS, CV_STEM, CV_TRIGRAMS=0|1, CV_BALANCE (class balance exponent), CV_STEPS (Adam steps), CV_P (the model's threshold), CV_GUESS=0|1 (the model's
//   best guess before the code-class fallbacks), CV_GUESS_P (its least probability), CV_WEAK="rule:p,rule:p" or "none" (the rules
//   the model may override, and at what probability; it replaces classifier.ts's MODEL_OVERRIDES
//   too), CV_YIELD (the threshold at which every other text rule yields to the model).
import { createHash } from 'node:crypto';
import { createClassifier } from '../dist/classify/classifier.js';
import { DEFAULT_RULES, WEAK_RULES } from '../dist/classify/rules.js';
import { createVocabularyModel } from '../dist/classify/vocabulary.js';
import { trainVocabulary } from '../dist/classify/vocabulary-training.js';
import { loadCorpus, toInput } from '../test/classify/fixtures/corpus/corpus-data.mjs';
import { SETTINGS, sample } from '../test/classify/fixtures/corpus/train-vocabulary.mjs';

const args = process.argv.slice(2);
const env = process.env;
const dev = loadCorpus().filter((r) => r.split === 'dev');
const older = loadCorpus({ older: true });
const fold = (r) => parseInt(createHash('sha256').update(`ferry-vocabulary-cv:${r.id}:${r.text}`).digest('hex').slice(0, 8), 16) % 5;
const draw = (s) => parseInt(createHash('sha256').update(s).digest('hex').slice(0, 8), 16) / 2 ** 32;
const weak = env.CV_WEAK === undefined ? WEAK_RULES
  : Object.fromEntries(env.CV_WEAK === 'none' ? [] : env.CV_WEAK.split(',').map((x) => [x.split(':')[0], Number(x.split(':')[1])]));
const guess = (env.CV_GUESS ?? '1') === '1';
// CV_WEAK names every rule that yields (classifier.ts's MODEL_OVERRIDES too); CV_YIELD makes the others yield.
const options = { ...(env.CV_WEAK === undefined ? {} : { yieldsTo: {} }), ...(env.CV_YIELD === undefined ? {} : { textRulesYieldTo: Number(env.CV_YIELD) }) };
const textRule = (r) => !(r.vocabulary !== undefined || r.errors || /^(enh|class)-/.test(r.id));
const regimes = {
  'whole table': () => true,
  ...(args.includes('--regimes') ? {
    'half the text rules (draw a)': (r, k) => !textRule(r) || draw(`a:${k}:${r.id}`) >= 0.5,
    'half the text rules (draw b)': (r, k) => !textRule(r) || draw(`b:${k}:${r.id}`) >= 0.5,
    'no text rule': (r) => !textRule(r),
  } : {}),
  ...(args.includes('--model-only') ? { 'model and code rules only': (r) => !textRule(r) } : {}),
};
const models = [0, 1, 2, 3, 4].map((k) => {
  const data = trainVocabulary([...dev, ...older].filter((r) => fold(r) !== k).map(sample), {
    minTexts: Number(env.CV_MIN_TEXTS ?? SETTINGS.minTexts), l2: Number(env.CV_L2 ?? SETTINGS.l2), stem: Number(env.CV_STEM ?? SETTINGS.stem),
    trigrams: (env.CV_TRIGRAMS ?? (SETTINGS.trigrams ? '1' : '0')) === '1',
    balance: Number(env.CV_BALANCE ?? SETTINGS.balance ?? 0), steps: Number(env.CV_STEPS ?? SETTINGS.steps ?? 300) });
  return createVocabularyModel(data, { minProbability: Number(env.CV_P ?? SETTINGS.minProbability) });
});
const tableFor = (k, keep) => DEFAULT_RULES
  .filter((r) => guess || !r.id.startsWith('vocabulary-guess'))
  .map((r) => (r.vocabulary !== undefined ? { ...r, vocabulary: models[k], ...(r.id.startsWith('vocabulary-guess') && env.CV_GUESS_P ? { minProbability: Number(env.CV_GUESS_P) } : {}) }
    : r.errors ? r : { ...r, yieldsTo: weak[r.id] }))
  .filter((r) => keep(r, k));
const disagreements = [];
for (const [name, keep] of Object.entries(regimes)) {
  const classes = new Map();
  let agree = 0;
  let permRows = 0;
  let permAgree = 0;
  for (let k = 0; k < 5; k++) {
    const c = createClassifier(tableFor(k, keep), options);
    for (const r of dev.filter((x) => fold(x) === k)) {
      const v = c.classify(toInput(r));
      const permMiss = r.permanent !== null && v.permanent !== r.permanent;
      if (v.category === r.category) agree++;
      if (r.permanent !== null) (permRows++, (permAgree += permMiss ? 0 : 1));
      if (v.category !== r.category) disagreements.push([name, r.id, r.category, v.category, v.rule, r.code ?? '', r.enhanced ?? '', r.basis, r.text].join('\t'));
      if (v.category !== r.category || permMiss) {
        const key = `${r.category} -> ${v.category}${v.category === r.category ? ' (permanence)' : ''} by ${v.rule} [${r.kind}]`;
        const list = classes.get(key) ?? [];
        list.push({ r, v });
        classes.set(key, list);
      }
    }
  }
  console.log(`5-fold CV on ${dev.length} development rows, ${name}: ${(100 * agree / dev.length).toFixed(1)} % category, ${(100 * permAgree / permRows).toFixed(1)} % permanence (${permRows} rows)`);
  if (name !== 'whole table' && !args.includes('--model-only')) continue;
  for (const [key, list] of [...classes].sort((a, b) => b[1].length - a[1].length)) {
    console.log(`${String(list.length).padStart(4)}  ${key}`);
    if (args.includes('--misses')) for (const { r } of list) console.log(`        ${r.code ?? ''} ${r.enhanced ?? ''} | ${r.text.slice(0, 200)}`);
  }
}
if (args.includes('--disagreements')) for (const d of disagreements) console.log(`D\t${d}`);
