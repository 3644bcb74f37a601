// Loads the labelled bounce corpus (test/classify/fixtures/corpus/corpus.tsv, see its README)
// for the accuracy benchmark and the floor test. Plain JavaScript so both can import it.
import { readFileSync } from 'node:fs';

const CORPUS = new URL('./fixtures/corpus/corpus.tsv', import.meta.url);
const OLDER = ['bounce-replies.tsv', 'extra-replies.tsv'].map((n) => new URL(`./fixtures/${n}`, import.meta.url));

function unquote(field) {
  return field.length >= 2 && field.startsWith('"') && field.endsWith('"') ? field.slice(1, -1).replace(/""/g, '"') : field;
}

/** Permanence the older fixtures' labels imply (DESIGN.md semantics; by-code follows the code). */
const FIXED = { user_unknown: true, domain_invalid: true, mailbox_disabled: true, mailbox_full: false, rate_limited: false,
  message_too_large: true, temporary: false };

/**
 * Rows of the corpus (`{ id, split, kind, code, enhanced, text, category, permanent, basis,
 * source }`; code is a number or null, permanent a boolean or null when the label does not fix
 * it), or with `{ older: true }` the older hand-labelled fixtures in the same shape.
 */
export function loadCorpus(options = {}) {
  if (options.older) {
    return OLDER.flatMap((url) =>
      readFileSync(url, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '').map((l, i) => {
        const [code, enhanced, text, category, source] = l.replace(/\r$/, '').split('\t').map(unquote);
        const fixed = FIXED[category];
        return { id: `older-${i}`, split: 'dev', kind: 'reply', code: Number(code), enhanced: enhanced || null, text, category,
          permanent: fixed ?? Math.floor(Number(code) / 100) === 5, basis: 'ferry fixture label', source };
      }));
  }
  const lines = readFileSync(CORPUS, 'utf8').split('\n');
  if (lines[0] !== 'id\tsplit\tkind\tcode\tenhanced\ttext\tcategory\tpermanent\tbasis\tsource') throw new Error('corpus.tsv: unexpected header');
  return lines.slice(1).filter((l) => l.trim() !== '').map((l) => {
    const [id, split, kind, code, enhanced, text, category, permanent, basis, source] = l.split('\t');
    return { id, split, kind, code: code ? Number(code) : null, enhanced: enhanced || null, text, category,
      permanent: permanent === '' ? null : permanent === 'true', basis, source };
  });
}

/**
 * The classifier input for a row, as the pipeline would build it: the reply code when the source
 * gave one, else the class of the enhanced status (a DSN's Status field), else 0 (unknown).
 */
export function toInput(row) {
  const code = row.code ?? (row.enhanced ? Number(row.enhanced[0]) * 100 + 50 : 0);
  return { kind: 'reply', reply: { code, enhanced: row.enhanced, text: row.text } };
}
