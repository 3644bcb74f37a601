// Bounce classifier accuracy on the labelled corpus. Needs the compiled output: run
// `npm run build` first.
//
//   node bench/classify-accuracy.mjs [--misses dev] [--json]
//
// Prints, for the held-out fifth and for the development part of
// test/classify/fixtures/corpus/corpus.tsv (plus the older hand-labelled fixtures, which are
// development data only): category agreement, permanent/temporary agreement, per-category
// precision and recall and a confusion matrix (rows: label, columns: verdict). `--misses dev`
// lists the development rows the classifier disagrees with; there is deliberately no option to
// list held-out misses, so that the held-out fifth stays out of rule writing.
import { createClassifier } from '../dist/classify/classifier.js';
import { loadCorpus, toInput } from '../test/classify/fixtures/corpus/corpus-data.mjs';

const args = process.argv.slice(2);
const showMisses = args.includes('--misses');
const asJson = args.includes('--json');
const classifier = createClassifier();
const CATS = ['user_unknown', 'domain_invalid', 'mailbox_disabled', 'mailbox_full', 'rate_limited', 'blocked',
  'spam_content', 'policy', 'message_too_large', 'temporary', 'other'];

function evaluate(rows) {
  const confusion = new Map(CATS.map((c) => [c, new Map(CATS.map((d) => [d, 0]))]));
  let agree = 0;
  let permRows = 0;
  let permAgree = 0;
  const misses = [];
  const byKind = {};
  for (const row of rows) {
    const v = classifier.classify(toInput(row));
    const k = (byKind[row.kind] ??= { rows: 0, agree: 0 });
    k.rows++;
    if (v.category === row.category) k.agree++;
    confusion.get(row.category).set(v.category, confusion.get(row.category).get(v.category) + 1);
    if (v.category === row.category) agree++;
    else misses.push({ row, v });
    if (row.permanent !== null) {
      permRows++;
      if (v.permanent === row.permanent) permAgree++;
      else if (v.category === row.category) misses.push({ row, v, permOnly: true });
    }
  }
  const perCat = CATS.map((c) => {
    const tp = confusion.get(c).get(c);
    const labelled = [...confusion.get(c).values()].reduce((a, b) => a + b, 0);
    const predicted = CATS.reduce((a, d) => a + confusion.get(d).get(c), 0);
    return { category: c, labelled, predicted, precision: predicted ? tp / predicted : null, recall: labelled ? tp / labelled : null };
  });
  return { rows: rows.length, agree, category: agree / rows.length, permRows, permAgree, permanent: permAgree / permRows, perCat, confusion, misses, byKind };
}

const pct = (x) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
const ABBR = { user_unknown: 'uu', domain_invalid: 'di', mailbox_disabled: 'md', mailbox_full: 'mf', rate_limited: 'rl', blocked: 'bl',
  spam_content: 'sc', policy: 'po', message_too_large: 'tl', temporary: 'te', other: 'ot' };

function report(name, r) {
  const out = [];
  out.push(`### ${name}: ${r.rows} rows`, '');
  out.push(`category agreement **${pct(r.category)}** (${r.agree}/${r.rows}); permanent/temporary agreement **${pct(r.permanent)}** (${r.permAgree}/${r.permRows} rows whose label fixes permanence)`, '');
  const kinds = Object.entries(r.byKind).map(([k, v]) => `${k} ${pct(v.agree / v.rows)} of ${v.rows}`).join(', ');
  if (Object.keys(r.byKind).length > 1) out.push(`By kind of row (category agreement): ${kinds}.`, '');
  out.push('| category | labelled | predicted | precision | recall |', '| --- | ---: | ---: | ---: | ---: |');
  for (const c of r.perCat) out.push(`| ${c.category} | ${c.labelled} | ${c.predicted} | ${pct(c.precision)} | ${pct(c.recall)} |`);
  out.push('', `Confusion matrix (rows: label, columns: verdict; ${CATS.map((c) => `${ABBR[c]} = ${c}`).join(', ')}):`, '');
  out.push(`| | ${CATS.map((c) => ABBR[c]).join(' | ')} |`, `| --- |${CATS.map(() => ' ---: |').join('')}`);
  for (const c of CATS) out.push(`| **${ABBR[c]}** | ${CATS.map((d) => { const n = r.confusion.get(c).get(d); return c === d ? `**${n}**` : n === 0 ? '·' : String(n); }).join(' | ')} |`);
  out.push('');
  return out.join('\n');
}

const corpus = loadCorpus();
const heldout = corpus.filter((r) => r.split === 'heldout');
const dev = corpus.filter((r) => r.split === 'dev');
const older = loadCorpus({ older: true });
const results = { heldout: evaluate(heldout), dev: evaluate(dev), older: evaluate(older) };
if (asJson) {
  console.log(JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { rows: r.rows, category: r.category, permanent: r.permanent }]))));
} else {
  console.log(report('Held-out fifth (corpus.tsv, split = heldout)', results.heldout));
  console.log(report('Development part (corpus.tsv, split = dev)', results.dev));
  console.log(report('Older hand-labelled fixtures (bounce-replies.tsv + extra-replies.tsv, development only)', results.older));
}
if (showMisses) {
  for (const { row, v, permOnly } of [...results.dev.misses, ...results.older.misses]) {
    console.log(`${permOnly ? 'PERM ' : ''}${row.category} -> ${v.category} (${v.rule}) | ${row.code ?? ''} ${row.enhanced ?? ''} | ${row.text.slice(0, 220)} | ${row.basis ?? ''}`);
  }
}
