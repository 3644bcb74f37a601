// Agreement of the built classifier (dist/) with the labelled corpus, file by file and for the
// corpus without the files added in issue 18's corpus18 step (dsn-more.tsv, mtas.tsv,
// providers.tsv), so a new file's effect on the floors can be read off. Figures only: it never
// prints a row, held-out or not (bench/classify-accuracy.mjs --misses lists development misses).
//
//   npm run build && node bench/classify-corpus-files.mjs
import { createClassifier } from '../dist/classify/classifier.js';
import { loadCorpusFiles, toInput } from '../test/classify/fixtures/corpus/corpus-data.mjs';

const ADDED = new Set(['dsn-more.tsv', 'mtas.tsv', 'providers.tsv']);
const classifier = createClassifier();
const pct = (x) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);

function score(rows) {
  let agree = 0;
  let permRows = 0;
  let permAgree = 0;
  for (const row of rows) {
    const v = classifier.classify(toInput(row));
    if (v.category === row.category) agree++;
    if (row.permanent !== null) {
      permRows++;
      if (v.permanent === row.permanent) permAgree++;
    }
  }
  return { rows: rows.length, category: rows.length ? agree / rows.length : null, permanent: permRows ? permAgree / permRows : null };
}

const files = loadCorpusFiles();
const groups = [
  ...files.map((f) => [f.file, f.rows]),
  ['without the corpus18 files', files.filter((f) => !ADDED.has(f.file)).flatMap((f) => f.rows)],
  ['the corpus18 files only', files.filter((f) => ADDED.has(f.file)).flatMap((f) => f.rows)],
  ['all', files.flatMap((f) => f.rows)],
];
console.log('| rows from | held-out rows | category | permanence | dev rows | category | permanence |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, rows] of groups) {
  const h = score(rows.filter((r) => r.split === 'heldout'));
  const d = score(rows.filter((r) => r.split === 'dev'));
  console.log(`| ${name} | ${h.rows} | ${pct(h.category)} | ${pct(h.permanent)} | ${d.rows} | ${pct(d.category)} | ${pct(d.permanent)} |`);
}
