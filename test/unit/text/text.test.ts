import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { TEXT_ENCODERS, fitTextEncoder, loadTextEncoder, textEncoderRow } from '../../../src/text/encoders.js';
import { normalizeText, yearToken } from '../../../src/text/normalize.js';
import { type TfidfSettings, fitTfidf, textTerms, transformTfidf } from '../../../src/text/tfidf.js';

const words: TfidfSettings = { wordNgrams: [1, 1], charNgrams: null, maxFeatures: 100, charShare: 0, minDf: 1, sublinearTf: true };
const round = (values: ArrayLike<number>) => Array.from(values, (v) => +v.toFixed(5));

test('normalisation: lower case, punctuation and accents gone, a trailing year kept apart', () => {
  assert.deepEqual(normalizeText('Alien (1979)'), { text: 'alien', year: 1979 });
  assert.deepEqual(normalizeText('  Alien [1979] '), { text: 'alien', year: 1979 });
  assert.deepEqual(normalizeText("Schindler's List"), { text: 'schindlers list' });
  assert.deepEqual(normalizeText('Amélie: Le Fabuleux Destin!'), { text: 'amelie le fabuleux destin' });
  assert.deepEqual(normalizeText('2001: A Space Odyssey'), { text: '2001 a space odyssey' }, 'a year that is not trailing and bracketed is a word');
  assert.deepEqual(normalizeText('Blade Runner 2049'), { text: 'blade runner 2049' });
  assert.deepEqual(normalizeText('...'), { text: '' });
  assert.equal(yearToken(1979), '__decade_1970s');
});

test('terms: word n-grams, the decade of the year, character n-grams inside padded words', () => {
  assert.deepEqual(textTerms('Alien (1979)', { wordNgrams: [1, 2], charNgrams: [3, 3] }), ['w:alien', 'w:__decade_1970s', 'c: al', 'c:ali', 'c:lie', 'c:ien', 'c:en ']);
  assert.deepEqual(textTerms('The Dark Knight', { wordNgrams: [1, 2], charNgrams: null }), ['w:the', 'w:dark', 'w:knight', 'w:the dark', 'w:dark knight']);
  assert.deepEqual(textTerms('', { wordNgrams: [1, 2], charNgrams: [2, 4] }), []);
});

test('tfidf on a tiny corpus: smoothed idf, sublinear tf, L2 rows, by hand', () => {
  // df: the 2, heat 2, alien 1, wave 1 over n = 3 documents (the empty text counts in none).
  const model = fitTfidf(['the alien', 'the heat', '', 'heat wave'], words);
  assert.deepEqual(model.terms, ['w:heat', 'w:the', 'w:alien', 'w:wave'], 'most frequent first, then by name');
  // idf = ln((1 + n) / (1 + df)) + 1: ln(4/3) + 1 = 1.28768, ln(4/2) + 1 = 1.69315
  assert.deepEqual(round(model.idf), [1.28768, 1.28768, 1.69315, 1.69315]);
  // 'the alien': (1.28768, 1.69315) / 2.12718
  assert.deepEqual(round(transformTfidf(model, 'The Alien!')), [0, 0.60535, 0.79596, 0]);
  // 'alien alien heat': alien (1 + ln 2) * 1.69315 = 2.86672, heat 1.28768; norm 3.14263 -> (0.40974, 0.91220)
  assert.deepEqual(round(transformTfidf(model, 'alien alien heat')), [0.40974, 0, 0.9122, 0]);
  assert.deepEqual(round(transformTfidf(model, 'nothing known')), [0, 0, 0, 0], 'unknown words: a zero row');
});

test('tfidf: the vocabulary cap splits between words and characters, minDf drops rare terms', () => {
  const texts = ['alien', 'aliens', 'alien nation', 'heat'];
  const capped = fitTfidf(texts, { ...words, charNgrams: [2, 2], maxFeatures: 4, charShare: 0.5, minDf: 2 });
  assert.deepEqual(capped.terms, ['w:alien', 'c: a', 'c:al', 'c:en'], 'one word has df >= 2, so characters take the rest of the cap');
  const wordsOnly = fitTfidf(texts, { ...words, minDf: 2 });
  assert.deepEqual(wordsOnly.terms, ['w:alien']);
});

test('encoder rows: a table, fitted encoders give rows of their dimension; bad rows name the parameter', async () => {
  assert.equal(textEncoderRow('tfidf'), TEXT_ENCODERS.tfidf);
  assert.throws(() => textEncoderRow('bert'), (e: unknown) => e instanceof PosterscopeError && /Expected one of tfidf, tfidf-words, tfidf-large for textEncoder but received string "bert"/.test(e.message));
  const { encoder, stored } = fitTextEncoder('tfidf-words', ['the alien', 'the heat', 'heat wave', 'alien heat']);
  assert.equal(encoder.dim, stored.model.terms.length);
  const loaded = await loadTextEncoder(stored);
  const [a, b] = await loaded.encode(['Alien heat', '']);
  assert.deepEqual(round(a!), round(encoder.encodeSync!(['Alien heat'])[0]!));
  assert.equal(b!.length, encoder.dim);
  assert.ok(b!.every((v) => v === 0));
  assert.throws(() => fitTextEncoder('tfidf', ['', '']), (e: unknown) => e instanceof PosterscopeError && e.code === 'DATA_INVALID');
});

test('loadTextEncoder takes a pretrained sentence row (tiny generated graph + tokenizer of the MiniLM row) and gives its rows', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { SENTENCE_ENCODERS } = await import('../../../src/text/sentence.js');
  const { tinySentenceEncoder } = await import('../../helpers/text-encoders.js');
  const root = await mkdtemp(join(tmpdir(), 'posterscope-text-encoder-'));
  try {
    const minilm = SENTENCE_ENCODERS.find((r) => r.id === 'minilm-l6')!;
    const { row } = await tinySentenceEncoder(root, minilm, { dim: 4 });
    const encoder = await loadTextEncoder(row, { mirrors: [root], cacheDir: join(root, 'cache'), env: {}, offline: true, workers: 1 });
    try {
      assert.equal(encoder.id, 'minilm-l6');
      assert.equal(encoder.dim, 4);
      assert.match(encoder.fingerprint!, /^minilm-l6-/);
      const [v] = await encoder.encode(['the dead of night']);
      assert.equal(v!.length, 4);
      assert.ok(Math.abs(Math.hypot(...v!) - 1) < 1e-5, 'unit length');
    } finally {
      await encoder.release();
    }
    await assert.rejects(loadTextEncoder('tfidf'), (e: unknown) => e instanceof PosterscopeError && /fitted at training time/.test(e.message));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
