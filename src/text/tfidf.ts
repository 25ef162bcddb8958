/**
 * A TF-IDF vectoriser fitted at training time and stored in the bundle:
 * word 1-2-grams plus character n-grams inside word boundaries (like
 * scikit-learn's `char_wb`), sublinear term frequency (1 + ln tf), smoothed
 * idf (ln((1 + n) / (1 + df)) + 1), a vocabulary cap and L2-normalised rows.
 * Small enough to own: the maintained npm TF-IDF packages (natural's TfIdf,
 * tiny-tfidf) score documents against queries but neither fit a capped
 * n-gram vocabulary nor transform new text with a frozen one.
 */
import { invalidParameterError } from '../errors.js';
import { normalizeText, yearToken } from './normalize.js';

export interface TfidfSettings {
  /** Word n-gram sizes, inclusive, e.g. [1, 2]. */
  wordNgrams: readonly [number, number];
  /** Character n-gram sizes inside words (padded with a space each side), inclusive; null for none. */
  charNgrams: readonly [number, number] | null;
  /** Vocabulary cap: the most frequent terms (by document frequency) are kept. */
  maxFeatures: number;
  /** Share of the cap given to character n-grams (the rest to words). */
  charShare: number;
  /** Terms in fewer documents are dropped. */
  minDf: number;
  /** 1 + ln(tf) instead of tf. */
  sublinearTf: boolean;
}

/** A fitted vectoriser: its settings, terms and their idf. */
export interface TfidfModel {
  settings: TfidfSettings;
  /** Word terms are prefixed "w:", character n-grams "c:". */
  terms: string[];
  idf: Float32Array;
}

/**
 * Every term of a text, with repeats (term frequency is their count).
 *
 * @example
 *   textTerms('Alien (1979)', { wordNgrams: [1, 2], charNgrams: [3, 3], ... })
 *   // -> ['w:alien', 'w:__decade_1970s', 'c: al', 'c:ali', 'c:lie', 'c:ien', 'c:en ']
 */
export function textTerms(text: string, settings: Pick<TfidfSettings, 'wordNgrams' | 'charNgrams'>): string[] {
  const { text: normal, year } = normalizeText(text);
  const words = normal === '' ? [] : normal.split(' ');
  const terms: string[] = [];
  const [w0, w1] = settings.wordNgrams;
  for (let n = w0; n <= w1; n++) for (let i = 0; i + n <= words.length; i++) terms.push(`w:${words.slice(i, i + n).join(' ')}`);
  if (year !== undefined) terms.push(`w:${yearToken(year)}`);
  if (settings.charNgrams) {
    const [c0, c1] = settings.charNgrams;
    for (const word of words) {
      const padded = ` ${word} `;
      for (let n = c0; n <= c1; n++) for (let i = 0; i + n <= padded.length; i++) terms.push(`c:${padded.slice(i, i + n)}`);
    }
  }
  return terms;
}

export function checkTfidfSettings(s: TfidfSettings): TfidfSettings {
  const range = (name: string, r: unknown) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => Number.isInteger(v) && v >= 1 && v <= 8) || r[0] > r[1]) throw invalidParameterError(name, '[min, max] with 1 <= min <= max <= 8', r);
  };
  range('wordNgrams', s.wordNgrams);
  if (s.charNgrams !== null) range('charNgrams', s.charNgrams);
  if (!Number.isInteger(s.maxFeatures) || s.maxFeatures < 1 || s.maxFeatures > 1 << 20) throw invalidParameterError('maxFeatures', 'integer in [1, 1048576]', s.maxFeatures);
  if (!(s.charShare >= 0 && s.charShare <= 1)) throw invalidParameterError('charShare', 'number in [0, 1]', s.charShare);
  if (!Number.isInteger(s.minDf) || s.minDf < 1) throw invalidParameterError('minDf', 'positive integer', s.minDf);
  if (typeof s.sublinearTf !== 'boolean') throw invalidParameterError('sublinearTf', 'boolean', s.sublinearTf);
  return s;
}

/**
 * Fits the vocabulary and idf on training texts ('' for a missing text: it
 * counts in no document frequency).
 *
 * @example
 *   const model = fitTfidf(['Alien', 'Aliens', 'Heat'], { wordNgrams: [1, 1], charNgrams: null, maxFeatures: 10, charShare: 0, minDf: 1, sublinearTf: true });
 *   model.terms // -> ['w:alien', 'w:aliens', 'w:heat']
 *   model.idf   // -> Float32Array [1.693, 1.693, 1.693]   (ln(4/2) + 1)
 */
export function fitTfidf(texts: readonly string[], settings: TfidfSettings): TfidfModel {
  checkTfidfSettings(settings);
  const df = new Map<string, number>();
  let documents = 0;
  for (const text of texts) {
    const terms = new Set(textTerms(text, settings));
    if (terms.size === 0) continue;
    documents++;
    for (const term of terms) df.set(term, (df.get(term) ?? 0) + 1);
  }
  const byDf = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const kept = [...df].filter(([, n]) => n >= settings.minDf);
  const words = kept.filter(([t]) => t.startsWith('w:')).sort(byDf);
  const chars = kept.filter(([t]) => t.startsWith('c:')).sort(byDf);
  const charCap = settings.charNgrams ? Math.round(settings.maxFeatures * settings.charShare) : 0;
  // A pool with fewer terms than its share lends the rest to the other.
  const charTake = Math.min(chars.length, Math.max(charCap, settings.maxFeatures - words.length));
  const wordTake = Math.min(words.length, settings.maxFeatures - charTake);
  const chosen = [...words.slice(0, wordTake), ...chars.slice(0, charTake)];
  return {
    settings,
    terms: chosen.map(([t]) => t),
    idf: Float32Array.from(chosen, ([, n]) => Math.log((1 + documents) / (1 + n)) + 1),
  };
}

/** Term -> column, built once per fitted model. */
const indexes = new WeakMap<TfidfModel, Map<string, number>>();

function indexOf(model: TfidfModel): Map<string, number> {
  let index = indexes.get(model);
  if (!index) {
    index = new Map(model.terms.map((t, i) => [t, i]));
    indexes.set(model, index);
  }
  return index;
}

/**
 * One text as an L2-normalised TF-IDF row (all zeros when no term is known).
 *
 * @example
 *   transformTfidf(model, 'Alien alien')   // with the model above
 *   // -> Float32Array [1, 0, 0]   (one term: normalised to length 1)
 */
export function transformTfidf(model: TfidfModel, text: string, out = new Float32Array(model.terms.length)): Float32Array {
  const index = indexOf(model);
  const counts = new Map<number, number>();
  for (const term of textTerms(text, model.settings)) {
    const column = index.get(term);
    if (column !== undefined) counts.set(column, (counts.get(column) ?? 0) + 1);
  }
  let norm = 0;
  for (const [column, tf] of counts) {
    const value = (model.settings.sublinearTf ? 1 + Math.log(tf) : tf) * model.idf[column]!;
    out[column] = value;
    norm += value * value;
  }
  if (norm > 0) {
    const scale = 1 / Math.sqrt(norm);
    for (const column of counts.keys()) out[column] = out[column]! * scale;
  }
  return out;
}
