// Screening of feature and learner variants for the learned vocabulary, by 5-fold CV on the
// DEVELOPMENT rows only (the held-out fifth is never read). Needs `npm run build` first.
//
//   node bench/classify-cv-variants.mjs [variant ...]     # no argument: list the variants
//
// Each variant is a feature function and training options for a float (uncompiled) softmax
// model trained like trainVocabulary (full-batch Adam, L2), plugged into the real rule table in
// the regimes of bench/classify-cv.mjs ("whole table", "half a", "half b", "no text rule": the
// model alone, with the code rules). The float model keeps every weight (no rounding to
// thousandths, none dropped under 0.02), so the baseline reads ~0.2 point above
// classify-cv.mjs's figure; compare variants with the baseline printed here, and confirm a
// kept one with classify-cv.mjs on the compiled model. Prints agreement only.
import { createHash } from 'node:crypto';
import { createClassifier } from '../dist/classify/classifier.js';
import { DEFAULT_RULES, WEAK_RULES } from '../dist/classify/rules.js';
import { MAX_TOKEN, isUnspaced, isWordChar, modelFeatures, textFeatures } from '../dist/classify/features.js';
import { BOUNCE_CATEGORIES } from '../dist/core/types.js';
import { loadCorpus, toInput } from '../test/classify/fixtures/corpus/corpus-data.mjs';
import { sample } from '../test/classify/fixtures/corpus/train-vocabulary.mjs';

const dev = loadCorpus().filter((r) => r.split === 'dev');
const older = loadCorpus({ older: true });
const fold = (r) => parseInt(createHash('sha256').update(`ferry-vocabulary-cv:${r.id}:${r.text}`).digest('hex').slice(0, 8), 16) % 5;
const draw = (s) => parseInt(createHash('sha256').update(s).digest('hex').slice(0, 8), 16) / 2 ** 32;
const textRule = (r) => !(r.vocabulary !== undefined || r.errors || /^(enh|class)-/.test(r.id));
const K = BOUNCE_CATEGORIES.length;

function train(docs, opt) {
  const { minTexts = 2, l2 = 0.0005, steps = 300, rate = 0.05, norm = 0, nb = 0, balance = 0 } = opt;
  const df = new Map();
  for (const d of docs) for (const x of new Set(d.f)) df.set(x, (df.get(x) ?? 0) + 1);
  const names = [...df.keys()].filter((f) => df.get(f) >= minTexts).sort();
  const id = new Map(names.map((f, i) => [f, i]));
  const rows = docs.map((d) => {
    const f = Int32Array.from(d.f.map((x) => id.get(x) ?? -1).filter((i) => i >= 0));
    return { y: d.y, f, s: norm > 0 ? 1 / Math.max(1, f.length) ** norm : 1 };
  });
  const n = rows.length;
  const texts = new Array(K).fill(0);
  for (const r of rows) texts[r.y]++;
  const cw = texts.map((x) => (x > 0 ? (n / (K * x)) ** balance : 0));
  const mw = rows.reduce((s, r) => s + cw[r.y], 0) / n;
  const dim = (names.length + 1) * K;
  const biasAt = names.length * K;
  const w = new Float64Array(dim), g = new Float64Array(dim), m = new Float64Array(dim), v = new Float64Array(dim), p = new Float64Array(K);
  for (let step = 1; step <= steps; step++) {
    g.fill(0);
    for (const r of rows) {
      for (let c = 0; c < K; c++) p[c] = 0;
      for (const fi of r.f) for (let c = 0; c < K; c++) p[c] += w[fi * K + c];
      for (let c = 0; c < K; c++) p[c] = p[c] * r.s + w[biasAt + c];
      let max = -Infinity;
      for (let c = 0; c < K; c++) if (p[c] > max) max = p[c];
      let sum = 0;
      for (let c = 0; c < K; c++) sum += p[c] = Math.exp(p[c] - max);
      const wt = cw[r.y] / mw;
      for (let c = 0; c < K; c++) {
        const d = ((p[c] / sum - (c === r.y ? 1 : 0)) * wt) / n;
        g[biasAt + c] += d;
        const ds = d * r.s;
        for (const fi of r.f) g[fi * K + c] += ds;
      }
    }
    for (let i = 0; i < biasAt; i++) g[i] += l2 * w[i];
    const c1 = 1 - 0.9 ** step, c2 = 1 - 0.999 ** step;
    for (let i = 0; i < dim; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      w[i] -= (rate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
    }
  }
  const weights = new Map();
  names.forEach((f, fi) => weights.set(f, Float64Array.from({ length: K }, (_, c) => w[fi * K + c])));
  const bias = Float64Array.from({ length: K }, (_, c) => w[biasAt + c]);
  if (nb > 0) {
    // multinomial NB log-probabilities (Laplace), added with weight nb
    const cnt = names.map(() => new Float64Array(K));
    const tot = new Float64Array(K);
    for (const r of rows) for (const fi of r.f) { cnt[fi][r.y]++; tot[r.y]++; }
    const V = names.length;
    names.forEach((f, fi) => {
      const wt = weights.get(f);
      // centred per feature so an unseen-in-class feature is negative evidence
      const lp = Array.from({ length: K }, (_, c) => Math.log((cnt[fi][c] + opt.alpha) / (tot[c] + opt.alpha * V)));
      const mean = lp.reduce((a, b) => a + b, 0) / K;
      for (let c = 0; c < K; c++) wt[c] += nb * (lp[c] - mean);
    });
    for (let c = 0; c < K; c++) bias[c] += nb * Math.log(Math.max(1, texts[c]) / n);
  }
  return { weights, bias, norm };
}

function modelOf(data, feat, knownOf, adjust = null) {
  return {
    predict(text, code = 0, enhanced = '', least = 0.5) {
      const f = feat(text, code, enhanced);
      let known = false;
      const acc = new Float64Array(K);
      let nf = 0;
      for (const x of f) {
        const wt = data.weights.get(x);
        if (wt === undefined) continue;
        nf++;
        if (knownOf(x)) known = true;
        for (let c = 0; c < K; c++) acc[c] += wt[c];
      }
      if (!known) return -1;
      const s = data.norm > 0 ? 1 / Math.max(1, nf) ** data.norm : 1;
      let best = 0;
      const sc = Array.from(acc, (a, c) => a * s + data.bias[c]);
      if (adjust !== null) { const add = adjust(code, enhanced); for (let c = 0; c < K; c++) sc[c] += add[c]; }
      for (let c = 1; c < K; c++) if (sc[c] > sc[best]) best = c;
      let sum = 0;
      for (let c = 0; c < K; c++) sum += Math.exp(sc[c] - sc[best]);
      return 1 / sum >= least ? best : -1;
    },
  };
}

const defaultKnown = (x) => x[0] !== '#' && x[0] !== '%';

/**
 * Log-score adjustments by the reply's codes, learned from the training samples: `prior` adds
 * λ·(log P(category | status) − log P(category)), the status's distribution smoothed towards its
 * class.subject's, that towards its class's, that towards the corpus's (m pseudo-texts each);
 * `gate` forbids categories seen in under `gate` of a code class's texts.
 */
function codeAdjust(samples, { prior = 0, m = 4, gate = 0 } = {}) {
  const counts = new Map();
  const bump = (key, y) => { let a = counts.get(key); if (!a) counts.set(key, (a = new Float64Array(K))); a[y]++; };
  for (const s of samples) {
    const y = BOUNCE_CATEGORIES.indexOf(s.category);
    const cls = s.code >= 100 && s.code < 600 ? Math.floor(s.code / 100) : 0;
    bump('', y);
    bump(`c${cls}`, y);
    const e = s.enhanced ?? '';
    if (e !== '') { bump(`e${e.slice(0, e.indexOf('.', 2))}`, y); bump(`e${e}`, y); }
  }
  const dist = (key, parent) => { const a = counts.get(key) ?? new Float64Array(K); const n = a.reduce((x, y) => x + y, 0); return Float64Array.from(a, (x, c) => (x + m * parent[c]) / (n + m)); };
  const total = counts.get('');
  const corpus = Float64Array.from(total, (x) => (x + 0.5) / (total.reduce((a, b) => a + b, 0) + 0.5 * K));
  const memo = new Map();
  return (code, enhanced) => {
    const cls = code >= 100 && code < 600 ? Math.floor(code / 100) : 0;
    const key = `${cls}|${enhanced}`;
    let out = memo.get(key);
    if (out) return out;
    out = new Float64Array(K);
    let p = dist(`c${cls}`, corpus);
    if (enhanced !== '') { const second = enhanced.indexOf('.', 2); p = dist(`e${enhanced}`, dist(`e${enhanced.slice(0, second)}`, p)); }
    if (prior > 0) for (let c = 0; c < K; c++) out[c] += prior * (Math.log(p[c]) - Math.log(corpus[c]));
    if (gate > 0) {
      const a = counts.get(`c${cls}`);
      const n = a ? a.reduce((x, y) => x + y, 0) : 0;
      if (n > 0) for (let c = 0; c < K; c++) if (a[c] / n < gate) out[c] -= 1e9;
    }
    memo.set(key, out);
    return out;
  };
}

function evaluate(name, feat, opt = {}, { regimes = ['whole table', 'no text rule'], knownOf = defaultKnown, p = 0.5, yieldAll = null, weak = WEAK_RULES, adjust = null } = {}) {
  const t0 = Date.now();
  const models = [0, 1, 2, 3, 4].map((k) => {
    const samples = [...dev, ...older].filter((r) => fold(r) !== k).map(sample);
    const docs = samples.map((s) => ({ f: feat(s.text, s.code ?? 0, s.enhanced ?? ''), y: BOUNCE_CATEGORIES.indexOf(s.category) }));
    return modelOf(train(docs, opt), feat, knownOf, adjust === null ? null : codeAdjust(samples, adjust));
  });
  const all = {
    'whole table': () => true,
    'half a': (r, k) => !textRule(r) || draw(`a:${k}:${r.id}`) >= 0.5,
    'half b': (r, k) => !textRule(r) || draw(`b:${k}:${r.id}`) >= 0.5,
    'no text rule': (r) => !textRule(r),
  };
  const out = [];
  for (const reg of regimes) {
    const keep = all[reg];
    let a = 0, pr = 0, pa = 0;
    for (let k = 0; k < 5; k++) {
      const table = DEFAULT_RULES.map((r) => (r.vocabulary !== undefined ? { ...r, vocabulary: models[k], ...(r.id === 'vocabulary' ? { minProbability: p } : {}) } : r.errors ? r : { ...r, yieldsTo: weak[r.id] ?? (yieldAll !== null && textRule(r) ? yieldAll : undefined) })).filter((r) => keep(r, k));
      const c = createClassifier(table);
      for (const r of dev.filter((x) => fold(x) === k)) {
        const v = c.classify(toInput(r));
        if (v.category === r.category) a++;
        if (r.permanent !== null) { pr++; if (v.permanent === r.permanent) pa++; }
      }
    }
    out.push(`${reg} ${(100 * a / dev.length).toFixed(1)} (${(100 * pa / pr).toFixed(1)})`);
  }
  console.log(`${name.padEnd(40)} ${out.join(' | ')}  [${((Date.now() - t0) / 1000).toFixed(0)} s]`);
}


// ---- the variants (session 10) ----
const base = (text, code, enhanced) => modelFeatures(text, code, enhanced, 5, true);
/** The codes' features as modelFeatures() gives them, plus the extras asked for. */
function codes(out, code, enhanced, o = {}) {
  const cls = code >= 100 && code < 600 ? Math.floor(code / 100) : 0;
  if (cls) out.push(`#${cls}`, `#${code}`);
  if (enhanced) {
    out.push(`#${enhanced}`);
    const second = enhanced.indexOf('.', 2);
    if (second > 0) out.push(`#${enhanced.slice(0, second)}`);
    if (o.sd) { out.push(`#x${enhanced.slice(1)}`); if (second > 0) out.push(`#x${enhanced.slice(1, second)}`); }
    if (o.cross && cls) out.push(`#${cls}|${enhanced.slice(1)}`);
  }
  return out;
}
/** Tokens as features.ts cuts them (character pairs for unspaced scripts) and the spaced words among them. */
function tokens(text) {
  const all = [];
  const spaced = [];
  let s = -1;
  for (let i = 0; i <= text.length; i++) {
    const ok = i < text.length && isWordChar(text.charCodeAt(i));
    if (ok && s < 0) s = i;
    else if (!ok && s >= 0) {
      const len = i - s;
      let d = 0;
      let un = false;
      for (let j = s; j < i; j++) { const c = text.charCodeAt(j); if (c >= 48 && c <= 57) d++; else if (isUnspaced(c)) un = true; }
      if (len >= 2 && len <= MAX_TOKEN && !(d === len || d * 2 > len)) {
        if (!un) { const w = text.slice(s, i).toLowerCase(); all.push(w); spaced.push(w); } else for (let j = s; j + 1 < i; j++) all.push(text.slice(j, j + 2));
      }
      s = -1;
    }
  }
  return { all, spaced };
}
/** Whitespace-separated chunks read by character class: an address, an IPv4 literal, a URL, a dotted host name. */
function placeholders(text) {
  const out = new Set();
  for (const chunk of text.split(' ')) {
    if (chunk.length === 0) continue;
    let digits = 0, dots = 0, letters = 0, at = false, colon = false;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c >= 48 && c <= 57) digits++;
      else if (c === 46) dots++;
      else if (c === 64) at = true;
      else if (c === 58) colon = true;
      else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) letters++;
    }
    if (at) out.add('<email>');
    else if (dots === 3 && letters === 0 && digits >= 4) out.add('<ip>');
    else if (colon && chunk.toLowerCase().startsWith('http')) out.add('<url>');
    else if (dots >= 2 && letters > 0) out.add('<host>');
  }
  return [...out];
}
const withExtra = (extra) => (text, code, enhanced) => codes([...textFeatures(text, 5, true), ...extra(text)], code, enhanced);
const fourGrams = (text) => { const o = new Set(); for (const w of tokens(text).spaced) { const s = ` ${w} `; for (let i = 0; i + 4 <= s.length; i++) o.add(`^${s.slice(i, i + 4)}`); } return [...o]; };
const cjkSingles = (text) => { const o = new Set(); for (const w of tokens(text).all) for (const ch of w) if (isUnspaced(ch.charCodeAt(0))) o.add(`^${ch}`); return [...o]; };
const cjkTriples = (text) => { const o = new Set(); for (const m of text.matchAll(/[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]{3,}/g)) for (let i = 0; i + 3 <= m[0].length; i++) o.add(`^${m[0].slice(i, i + 3)}`); return [...o]; };
/** The last five letters of each longer word: a compound's head ("…speicher", "…platz") is at its end in German and Dutch. */
const suffixes = (text) => [...new Set(tokens(text).spaced.filter((w) => w.length > 6).map((w) => `$${w.slice(-5)}`))];
const skipPairs = (text) => { const ws = tokens(text).spaced; const o = new Set(); for (let i = 0; i + 2 < ws.length; i++) o.add(`${ws[i]}_${ws[i + 2]}`); return [...o]; };
/** Session 9's feature list: every feature once per text (stems and triples deduplicated over the text). */
const setSemantics = (text, code, enhanced) => codes([...new Set(textFeatures(text, 5, true))], code, enhanced);
const H3 = ['whole table', 'half a', 'half b', 'no text rule'];
const VARIANTS = {
  baseline: () => evaluate('baseline (committed features)', base, {}, { regimes: H3 }),
  'set-semantics': () => evaluate('stems/triples once per text (session 9)', setSemantics, {}, { regimes: H3 }),
  'status-subject-detail': () => evaluate('status subject.detail without class', (t, c, e) => codes(textFeatures(t, 5, true), c, e, { sd: true })),
  'status-cross': () => evaluate('+ reply class x subject.detail', (t, c, e) => codes(textFeatures(t, 5, true), c, e, { sd: true, cross: true })),
  'l2-0.0002': () => evaluate('L2 0.0002', base, { l2: 0.0002 }),
  'l2-0.001': () => evaluate('L2 0.001', base, { l2: 0.001 }),
  'norm-0.5': () => evaluate('feature vector / sqrt(n)', base, { norm: 0.5 }),
  'norm-0.5-l2': () => evaluate('feature vector / sqrt(n), L2 0.0002', base, { norm: 0.5, l2: 0.0002 }),
  'nb-0.5': () => evaluate('+ 0.5 x naive Bayes log-probabilities', base, { nb: 0.5, alpha: 0.1 }),
  'nb-0.2': () => evaluate('+ 0.2 x naive Bayes log-probabilities', base, { nb: 0.2, alpha: 0.1 }),
  'char-4grams': () => evaluate('+ letter 4-grams', withExtra(fourGrams)),
  'cjk-singles': () => evaluate('+ single CJK characters', withExtra(cjkSingles)),
  'skip-pairs': () => evaluate('+ skip pairs (w_i, w_i+2)', withExtra(skipPairs)),
  placeholders: () => evaluate('+ <email> <ip> <url> <host> tokens', withExtra(placeholders)),
  '4xx-word-crosses': () => evaluate('+ each word crossed with a 4xx code', (t, c, e) => {
    const f = textFeatures(t, 5, true);
    return codes(c >= 400 && c < 500 ? [...f, ...f.filter((x) => x[0] !== '%' && x[0] !== '~' && !x.includes(' ')).map((x) => `4|${x}`)] : f, c, e);
  }),
  'all-counts': () => evaluate('every word, pair, stem, triple per occurrence', (t, c, e) => {
    const { all, spaced } = tokens(t);
    const out = [...all];
    for (let i = 0; i + 1 < all.length; i++) out.push(`${all[i]} ${all[i + 1]}`);
    for (const w of spaced) if (w.length > 5) out.push(`~${w.slice(0, 5)}`);
    for (const w of spaced) { const x = ` ${w} `; for (let i = 0; i + 3 <= x.length; i++) out.push(`%${x.slice(i, i + 3)}`); }
    return codes(out, c, e);
  }, {}, { regimes: ['whole table', 'half a', 'no text rule'] }),
  'words-only': () => evaluate('words only (no pairs, stems, triples)', (t, c, e) => codes(textFeatures(t).filter((x) => !x.includes(' ')), c, e)),
  'no-stems': () => evaluate('no stems', (t, c, e) => codes(textFeatures(t, 0, true), c, e)),
  'big-model': () => evaluate('minTexts 1, 600 steps, L2 0.0002', base, { minTexts: 1, steps: 600, l2: 0.0002 }),
  'p-0.3': () => evaluate("model's threshold 0.3", base, {}, { p: 0.3 }),
  'p-0.7': () => evaluate("model's threshold 0.7", base, {}, { p: 0.7 }),
  'all-yield-0.9': () => evaluate('every text rule yields at 0.9', base, {}, { yieldAll: 0.9, regimes: ['whole table', 'half a', 'half b'] }),
  'cjk-triples': () => evaluate('+ CJK character triples', withExtra(cjkTriples), {}, { regimes: H3 }),
  suffixes: () => evaluate('+ last five letters of longer words', withExtra(suffixes), {}, { regimes: H3 }),
  'absent-codes': () => evaluate('+ "#none" (no reply code), "#noenh" (no status)', (t, c, e) => { const f = base(t, c, e); if (!(c >= 100 && c < 600)) f.push('#none'); if (!e) f.push('#noenh'); return f; }, {}, { regimes: H3 }),
  'prior-0.5': () => evaluate('+ 0.5 x log P(category | status) prior', base, {}, { regimes: H3, adjust: { prior: 0.5 } }),
  'prior-1': () => evaluate('+ 1 x log P(category | status) prior', base, {}, { regimes: H3, adjust: { prior: 1 } }),
  'prior-1-m16': () => evaluate('+ 1 x status prior, m 16', base, {}, { regimes: H3, adjust: { prior: 1, m: 16 } }),
  'gate-0.01': () => evaluate('class gating under 1 %', base, {}, { regimes: H3, adjust: { gate: 0.01 } }),
  'gate-0.03': () => evaluate('class gating under 3 %', base, {}, { regimes: H3, adjust: { gate: 0.03 } }),
  'all-yield-0.8': () => evaluate('every text rule yields at 0.8', base, {}, { yieldAll: 0.8, regimes: H3 }),
  'all-yield-0.95': () => evaluate('every text rule yields at 0.95', base, {}, { yieldAll: 0.95, regimes: ['whole table', 'half a', 'half b'] }),
};
const asked = process.argv.slice(2);
if (asked.length === 0) console.log(`variants: ${Object.keys(VARIANTS).join(' ')}`);
for (const v of asked) {
  if (VARIANTS[v] === undefined) throw new Error(`no variant ${v}`);
  VARIANTS[v]();
}
