/**
 * Text encoders are rows in a table, like backbones: a row says what kind of
 * encoder it is and its settings, and no code is specific to one row. Every
 * encoder turns strings into Float32Array rows, whether it is fitted at
 * training time and stored in the bundle (`tfidf`) or pretrained and frozen
 * (sentence-embedding rows, referenced by id and checksum).
 */
import { PosterscopeError, invalidParameterError } from '../errors.js';
import { type LoadSentenceEncoderOptions, type SentenceEncoderSpec, loadSentenceEncoder } from './sentence.js';
import { type TfidfModel, type TfidfSettings, checkTfidfSettings, fitTfidf, transformTfidf } from './tfidf.js';

export interface TfidfEncoderRow {
  id: string;
  kind: 'tfidf';
  description: string;
  settings: TfidfSettings;
}

export type TextEncoderRow = TfidfEncoderRow;

/**
 * The known text encoders. `tfidf` is the default: word 1-2-grams and
 * character 2-4-grams (inside words), 8,192 terms per input, sublinear tf.
 */
export const TEXT_ENCODERS = {
  tfidf: {
    id: 'tfidf',
    kind: 'tfidf',
    description: 'TF-IDF fitted at training time: word 1-2-grams + character 2-4-grams in words, 8,192 terms, sublinear tf',
    settings: { wordNgrams: [1, 2], charNgrams: [2, 4], maxFeatures: 8192, charShare: 0.5, minDf: 2, sublinearTf: true },
  },
  'tfidf-words': {
    id: 'tfidf-words',
    kind: 'tfidf',
    description: 'TF-IDF fitted at training time: word 1-2-grams only, 8,192 terms, sublinear tf',
    settings: { wordNgrams: [1, 2], charNgrams: null, maxFeatures: 8192, charShare: 0, minDf: 2, sublinearTf: true },
  },
  'tfidf-large': {
    id: 'tfidf-large',
    kind: 'tfidf',
    description: 'TF-IDF fitted at training time: word 1-2-grams + character 2-4-grams in words, 32,768 terms, sublinear tf',
    settings: { wordNgrams: [1, 2], charNgrams: [2, 4], maxFeatures: 32768, charShare: 0.5, minDf: 2, sublinearTf: true },
  },
} as const satisfies Record<string, TextEncoderRow>;

/** Chosen on the validation split of ../shared (micro-F1 0.578 against 0.575 for 8,192 terms). */
export const DEFAULT_TEXT_ENCODER = 'tfidf-large';

/** Strings in, one Float32Array row each out (all zeros for empty text). */
export interface TextEncoder {
  readonly id: string;
  readonly dim: number;
  encode(texts: readonly string[]): Promise<Float32Array[]>;
  /** Synchronous where the encoder allows it (tfidf), for training loops. */
  encodeSync?(texts: readonly string[]): Float32Array[];
  release(): Promise<void>;
}

/** What a bundle stores of a fitted encoder: its row and the fitted state. */
export interface StoredTextEncoder {
  row: TextEncoderRow;
  /** tfidf: the vocabulary and idf. */
  model: TfidfModel;
}

/**
 * A row by id, or a row object of your own (checked).
 *
 * @example
 *   textEncoderRow('tfidf').settings.maxFeatures // -> 8192
 */
export function textEncoderRow(rowOrId: string | TextEncoderRow): TextEncoderRow {
  if (typeof rowOrId === 'string') {
    const row = (TEXT_ENCODERS as Record<string, TextEncoderRow>)[rowOrId];
    if (!row) throw invalidParameterError('textEncoder', `one of ${Object.keys(TEXT_ENCODERS).join(', ')}`, rowOrId);
    return row;
  }
  if (typeof rowOrId !== 'object' || rowOrId === null || rowOrId.kind !== 'tfidf' || typeof rowOrId.id !== 'string') {
    throw invalidParameterError('textEncoder', 'a text encoder row { id, kind: "tfidf", settings }', rowOrId);
  }
  checkTfidfSettings(rowOrId.settings);
  return rowOrId;
}

function tfidfEncoder(stored: StoredTextEncoder): TextEncoder {
  const encodeSync = (texts: readonly string[]) => texts.map((t) => transformTfidf(stored.model, t));
  return {
    id: stored.row.id,
    dim: stored.model.terms.length,
    encodeSync,
    encode: async (texts) => encodeSync(texts),
    release: async () => {},
  };
}

/**
 * Fits a trainable encoder row on training texts ('' for missing ones).
 *
 * @example
 *   const { encoder, stored } = fitTextEncoder('tfidf', ['Alien (1979)', 'Heat (1995)', ...]);
 *   encoder.dim // -> 8192 (or fewer on a small corpus)
 */
export function fitTextEncoder(rowOrId: string | TextEncoderRow, texts: readonly string[]): { encoder: TextEncoder; stored: StoredTextEncoder } {
  const row = textEncoderRow(rowOrId);
  const model = fitTfidf(texts, row.settings);
  if (model.terms.length === 0) throw new PosterscopeError('DATA_INVALID', `no ${row.id} terms found in the training texts (are the text columns empty?)`);
  const stored = { row, model };
  return { encoder: tfidfEncoder(stored), stored };
}

/**
 * A text encoder: one a bundle stored (fitted rows carry their state), or a
 * pretrained sentence-embedding row (`SENTENCE_ENCODERS` id or row object),
 * whose files are resolved like backbones' (cache, mirrors, download; checksummed).
 *
 * @example
 *   const title = await loadTextEncoder(bundle.heads[1].encoder);
 *   (await title.encode(['Alien (1979)']))[0].length // -> 8192
 *   const minilm = await loadTextEncoder('minilm-l6', { mirrors: ['/media/models'] });
 *   (await minilm.encode(['A crew fights an alien aboard a ship.']))[0].length // -> 384
 */
export async function loadTextEncoder(stored: StoredTextEncoder | string | SentenceEncoderSpec, options: LoadSentenceEncoderOptions = {}): Promise<TextEncoder & { fingerprint?: string }> {
  if (typeof stored === 'string' || !('row' in stored)) {
    if (typeof stored === 'string' && stored in TEXT_ENCODERS) {
      throw new PosterscopeError('INVALID_ARGUMENT', `${stored} is fitted at training time: fit it with fitTextEncoder, or load it from a bundle`);
    }
    const sentence = await loadSentenceEncoder(stored, options);
    return { id: sentence.id, dim: sentence.dim, fingerprint: sentence.fingerprint, encode: (texts) => sentence.encode(texts), release: () => sentence.release() };
  }
  if (stored.row.kind === 'tfidf') return tfidfEncoder(stored);
  throw new PosterscopeError('MODEL_INVALID', `unknown text encoder kind ${JSON.stringify((stored.row as { kind: unknown }).kind)}`);
}
