// Cross-validated error analysis of the bounce classifier on the DEVELOPMENT rows only (the
// held-out fifth is never read). Needs `npm run build` first.
//
//   node bench/classify-cv.mjs [--misses] [--model-only]
//
// Five folds of the development rows (the same seeded folds as train-vocabulary.mjs --cv): for
// each, the learned vocabulary is retrained without the fold and the whole rule table is run on
// the fold. Prints category and permanence agreement and the misses grouped by class (label ->
// verdict, the rule that answered, kind of row), largest classes first; `--misses` lists the
// rows of each class too. The hand-written rules were written from all development rows, so
// this is an optimistic estimate for them; it is honest for the model and its settings.
import { createHash } from 'node:crypto';
import { createClassifier } from '../dist/classify/classifier.js';
import { DEFAULT_RULES } from '../dist/classify/rules.js';
import { rule } from '../dist/classify/rule-types.js';
import { createVocabularyModel, trainVocabulary } from '../dist/classify/vocabulary.js';
import { loadCorpus, toInput } from '../test/classify/fixtures/corpus/corpus-data.mjs';
import { SETTINGS, sample } from '../test/classify/fixtures/corpus/train-vocabulary.mjs';

const args = process.argv.slice(2);
const dev = loadCorpus().filter((r) => r.split === 'dev');
const older = loadCorpus({ older: true });
const fold = (r) => parseInt(createHash('sha256').update(`ferry-vocabulary-cv:${r.id}:${r.text}`).digest('hex').slice(0, 8), 16) % 5;
const classes = new Map();
let agree = 0;
let permRows = 0;
let permAgree = 0;
for (let k = 0; k < 5; k++) {
  const data = trainVocabulary([...dev, ...older].filter((r) => fold(r) !== k).map(sample), { minTexts: SETTINGS.minTexts, l2: Number(process.env.CV_L2 ?? SETTINGS.l2), stem: Number(process.env.CV_STEM ?? SETTINGS.stem) });
  const model = createVocabularyModel(data, { minProbability: Number(process.env.CV_P ?? SETTINGS.minProbability) });
  const table = DEFAULT_RULES.map((r) => (r.vocabulary === undefined ? r : rule(r.id, 'other', { vocabulary: model })));
  const c = createClassifier(args.includes('--model-only') ? table.filter((r) => r.vocabulary !== undefined || r.errors || /^(enh|class)-/.test(r.id)) : table);
  for (const r of dev.filter((x) => fold(x) === k)) {
    const v = c.classify(toInput(r));
    const permMiss = r.permanent !== null && v.permanent !== r.permanent;
    if (v.category === r.category) agree++;
    if (r.permanent !== null) (permRows++, (permAgree += permMiss ? 0 : 1));
    if (v.category !== r.category || permMiss) {
      const key = `${r.category} -> ${v.category}${v.category === r.category ? ' (permanence)' : ''} by ${v.rule.startsWith('vocabulary') ? 'vocabulary' : v.rule} [${r.kind}]`;
      const list = classes.get(key) ?? [];
      list.push({ r, v });
      classes.set(key, list);
    }
  }
}
console.log(`5-fold CV on ${dev.length} development rows: ${(100 * agree / dev.length).toFixed(1)} % category, ${(100 * permAgree / permRows).toFixed(1)} % permanence (${permRows} rows)`);
for (const [key, list] of [...classes].sort((a, b) => b[1].length - a[1].length)) {
  console.log(`${String(list.length).padStart(4)}  ${key}`);
  if (args.includes('--misses')) for (const { r } of list) console.log(`        ${r.code ?? ''} ${r.enhanced ?? ''} | ${r.text.slice(0, 200)}`);
}
