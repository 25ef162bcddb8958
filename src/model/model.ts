/**
 * A trained genre model: `loadModel(path).predict(poster)` needs nothing but
 * the bundle (the backbone file is resolved like any model file: cache,
 * mirror or download, checked against the checksum the bundle was trained with).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Backbone, type LoadBackboneOptions, loadBackbone } from '../backbone/backbone.js';
import { type CleanSettings, type PosterCleaner, detectorOptions, loadCleaner } from '../clean/clean.js';
import { EmbeddingCache } from '../embed/cache.js';
import { type EmbedSummary, type PosterSource, embedPosters } from '../embed/pipeline.js';
import { type ErrorCode, PosterscopeError, excerpt, invalidParameterError } from '../errors.js';
import { type GenreScore, type PolicyOverrides, decideGenres, rankGenres, withOverrides } from '../eval/decide.js';
import type { DecodeOptions } from '../image/poster.js';
import { parseViews, viewName } from '../image/views.js';
import { defaultCacheDir } from '../models/resolve.js';
import type { PosterReader } from '../ocr/read.js';
import type { Progress } from '../progress.js';
import { type BundleManifest, readBundle } from './bundle.js';
import { loadTextEncoder } from '../text/encoders.js';
import { type BranchLogits, fuseScores } from './fusion.js';
import { headLogits, headScores, standardize } from './head.js';
import { MODEL_INPUTS, type ModelInput } from './inputs.js';

export type { GenreScore } from '../eval/decide.js';

/** The bundle shipped with posterscope, used when no path is given. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/default', import.meta.url));

/** One thing to predict: a poster, or any of a poster, a title and a plot. */
export type PredictInput = PosterSource | { image?: PosterSource; title?: string; plot?: string };

export interface PredictOptions extends PolicyOverrides {
  /** Views averaged for each poster; default the bundle's. */
  views?: readonly string[];
  /** Embedding cache: default on, in the cache directory; false to keep nothing. */
  cache?: boolean;
  batchSize?: number;
  progress?: Progress;
  decode?: DecodeOptions;
  /** Only these inputs are used even when given (evaluate's modality table). Default: all the model accepts. */
  use?: readonly ModelInput[];
  /**
   * Read a poster's own text (OCR, see `loadPosterReader`) and use it as the
   * title when a poster file comes without one and the model reads titles.
   */
  readText?: PosterReader;
  /** Called as each input finishes, in completion order. */
  onPrediction?: (prediction: Prediction, index: number) => void;
  /** Called once with the embedding run's counts (backbone passes, cache hits, timing). */
  onSummary?: (summary: EmbedSummary) => void;
  /** Inputs whose caller has gone: dropped from the run and answered with a TIMEOUT error (see EmbedOptions). */
  cancelled?: (index: number) => boolean;
}

export interface Prediction {
  /** The poster's file name (or upload name); for text only, the title (else "(plot)"). */
  input: string;
  /** What was used: the inputs given that the model reads. */
  inputs: ModelInput[];
  /** Predicted genres, highest score first. */
  genres: string[];
  /** Every genre's score, highest first. */
  scores: GenreScore[];
  error?: { code: ErrorCode; message: string };
}

/** Each input's head logits (for the inputs it has), or why it has none. */
export interface InputLogits {
  input: string;
  logits: BranchLogits;
  /** Each input's (standardised) features, kept when the fusion needs them (concat). */
  features?: BranchLogits;
  error?: { code: ErrorCode; message: string };
}

export interface GenreModel {
  readonly path: string;
  readonly manifest: BundleManifest;
  readonly genres: readonly string[];
  /** Inputs the model reads: a prediction may give any non-empty subset. */
  readonly accepts: readonly ModelInput[];
  /** Absent for a text-only model. */
  readonly backbone?: Backbone;
  /** Removes text from posters before embedding, when the bundle (or loadModel's options) asks for it. */
  readonly cleaner?: PosterCleaner;
  /** Scores [rows x genres] of the image head alone for mean view embeddings [rows x dim]. */
  score(embeddings: Float32Array, rows: number): Float32Array;
  /** Genres chosen from a prediction's scores under the bundle's policy, or one overridden per call. */
  decide(scores: readonly GenreScore[], overrides?: PolicyOverrides): string[];
  /** Each input's per-head logits, before fusion (evaluate fuses them for every subset of inputs). */
  logits(inputs: readonly PredictInput[], options?: PredictOptions): Promise<InputLogits[]>;
  /** Fused probabilities for one input's head logits (and features, for concat), from the inputs in `use` (default all). */
  fuse(logits: BranchLogits, use?: readonly ModelInput[], features?: BranchLogits): Float32Array;
  predict(input: PredictInput, options?: PredictOptions): Promise<Prediction>;
  predict(inputs: readonly PredictInput[], options?: PredictOptions): Promise<Prediction[]>;
  release(): Promise<void>;
}

export interface LoadModelOptions extends LoadBackboneOptions {
  /**
   * Text removal before embedding. Default: what the bundle was trained
   * with. `true` cleans even if it was not (with the bundle's settings or the
   * defaults), settings override the bundle's, `false` never cleans.
   */
  clean?: boolean | CleanSettings;
  /** An explicit path to the text detector's ONNX file (checksum still verified). */
  detectorPath?: string;
  /**
   * Load the image backbone (default true when the bundle has an image
   * head). False for callers that only predict from text: no backbone file
   * is resolved, and posters given anyway are predicted from their text.
   */
  imageBranch?: boolean;
  /** Keep detected text boxes in `<cache dir>/boxes` (a server of arbitrary uploads turns this off). Default true. */
  cacheBoxes?: boolean;
}

/**
 * A poster's embedding: the mean of its views' embeddings (test-time
 * augmentation), summed in the order of `views` so training and prediction
 * get the same float32 vector whatever order the views were computed or
 * read from the cache in.
 */
export function meanEmbedding(vectors: ReadonlyMap<string, Float32Array>, views: readonly string[], dim: number): Float32Array {
  const mean = new Float32Array(dim);
  for (const view of views) {
    const vector = vectors.get(view)!;
    for (let d = 0; d < dim; d++) mean[d]! += vector[d]! / views.length;
  }
  return mean;
}

const isUpload = (v: object): v is { source: string; bytes: Buffer } => 'bytes' in v && 'source' in v;

/** A predict input as its parts; a poster alone is `{ image }`. */
export function inputParts(input: PredictInput): { image?: PosterSource; title?: string; plot?: string } {
  if (typeof input === 'string') return { image: input };
  if (typeof input === 'object' && input !== null && isUpload(input)) return { image: input };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalidParameterError('input', 'a poster path, an upload or { image, title, plot }', input);
  return input;
}

/**
 * Loads a bundle and its backbone (when it has an image head) and text encoders.
 *
 * @example
 *   const model = await loadModel();
 *   const [prediction] = await model.predict(['poster.jpg']);
 *   // -> { input: 'poster.jpg', inputs: ['image'], genres: ['Drama'], scores: [{ genre: 'Drama', score: 0.61 }, ...] }
 *   await model.predict({ image: 'alien.jpg', title: 'Alien (1979)', plot: 'The crew of a space tug ...' });
 *   // -> { input: 'alien.jpg', inputs: ['image', 'title', 'plot'], genres: ['Horror', 'Sci-Fi'], scores: [...] }
 *   await model.predict({ title: 'Alien (1979)' });
 *   // -> { input: 'Alien (1979)', inputs: ['title'], genres: [...], scores: [...] }
 *   await model.release();
 */
export async function loadModel(path: string = DEFAULT_MODEL_PATH, options: LoadModelOptions = {}): Promise<GenreModel> {
  if (path === DEFAULT_MODEL_PATH && !existsSync(path)) {
    throw new PosterscopeError('MODEL_NOT_FOUND', `the default model is missing from this install (${path}); pass --model PATH`);
  }
  const bundle = await readBundle(path);
  const { manifest } = bundle;
  const imageHead = bundle.heads.find((h) => h.input === 'image');
  let backbone: Backbone | undefined;
  if (imageHead && options.imageBranch !== false) {
    // The backbone must be the exact file the head was trained on.
    const recorded = manifest.backbone!;
    const spec = { ...recorded.spec, file: { ...recorded.spec.file, sha256: recorded.sha256 } };
    backbone = await loadBackbone(spec, options);
    if (imageHead.layers[0]!.inputs !== backbone.dim) {
      await backbone.release();
      throw new PosterscopeError('MODEL_INVALID', `${path}: head expects ${imageHead.layers[0]!.inputs}-d embeddings, backbone gives ${backbone.dim}`);
    }
  }
  const textHeads = await Promise.all(
    bundle.heads.filter((h) => h.encoder).map(async (head) => ({ head, input: head.input as 'title' | 'plot', encoder: await loadTextEncoder(head.encoder!) })),
  );
  let cleaner: PosterCleaner | undefined;
  if (backbone && options.clean !== false && (manifest.clean || options.clean)) {
    const settings = { ...manifest.clean?.settings, ...(typeof options.clean === 'object' ? options.clean : {}) };
    try {
      const boxCacheDir = join(options.cacheDir ?? defaultCacheDir(options.env), 'boxes');
      cleaner = await loadCleaner(settings, { ...detectorOptions(options, options.detectorPath), ...(options.cacheBoxes === false ? {} : { boxCacheDir }) });
    } catch (error) {
      await backbone.release();
      throw error;
    }
    if (manifest.clean && cleaner.detector.sha256 !== manifest.clean.sha256) {
      await Promise.all([cleaner.release(), backbone.release()]);
      throw new PosterscopeError('MODEL_INVALID', `${path}: the text detector file differs from the one the model was trained with (sha256 ${manifest.clean.sha256.slice(0, 12)}…)`);
    }
  }
  const genres = manifest.genres;
  const accepts = manifest.inputs.accepts;
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);


  const score = (embeddings: Float32Array, rows: number) => {
    if (!imageHead) throw new PosterscopeError('INVALID_ARGUMENT', `${path} has no image head (it reads ${accepts.join(', ')})`);
    return headScores(imageHead, standardize(imageHead.standardizer, embeddings), rows);
  };
  const fusion = bundle.fusion;
  const keepFeatures = fusion?.type === 'concat';
  const fuse = (logits: BranchLogits, use?: readonly ModelInput[], features?: BranchLogits) => fuseScores(fusion, logits, 1, use, features);

  async function logitsOf(inputs: readonly PredictInput[], options: PredictOptions = {}, onDone?: (result: InputLogits, index: number) => void): Promise<InputLogits[]> {
    const use = new Set(options.use ?? accepts);
    const results: InputLogits[] = new Array(inputs.length);
    const images: Array<{ index: number; source: PosterSource }> = [];
    const finish = (result: InputLogits, index: number) => {
      results[index] = result;
      onDone?.(result, index);
    };
    const parts = inputs.map((input, index) => {
      try {
        const p = { ...inputParts(input) };
        for (const field of ['title', 'plot'] as const) {
          if (p[field] !== undefined && typeof p[field] !== 'string') throw invalidParameterError(field, 'a string', p[field]);
        }
        return p;
      } catch (error) {
        finish({ input: `input ${index}`, logits: {}, error: { code: 'INVALID_ARGUMENT', message: (error as Error).message } }, index);
        return undefined;
      }
    });
    if (options.readText && accepts.includes('title') && use.has('title')) {
      // A poster without a title: what is printed on it stands in for the title.
      for (const p of parts) {
        if (!p || typeof p.image !== 'string' || (p.title?.trim() ?? '') !== '') continue;
        try {
          const read = await options.readText.read(p.image, options.decode ? { decode: options.decode } : {});
          const text = read.text.replace(/\s+/g, ' ').trim();
          if (text !== '') p.title = text;
        } catch {
          // An unreadable poster is reported by the embedding below, with its own error.
        }
      }
    }
    // Text heads first: they need no decoding and answer at once for text-only inputs.
    const textLogits: BranchLogits[] = parts.map(() => ({}));
    const textFeatures: BranchLogits[] = parts.map(() => ({}));
    for (const { head, input, encoder } of textHeads) {
      if (!use.has(input)) continue;
      const wanted = parts.map((p, i) => [p?.[input]?.trim() ?? '', i] as const).filter(([text]) => text !== '');
      if (wanted.length === 0) continue;
      const features = await encoder.encode(wanted.map(([text]) => text));
      wanted.forEach(([, i], k) => {
        const x = standardize(head.standardizer, features[k]!);
        // A text with no known term says nothing: it is left out rather than pulling scores to the head's bias.
        if (features[k]!.some((v) => v !== 0)) {
          textLogits[i]![input] = headLogits(head, x, 1);
          if (keepFeatures) textFeatures[i]![input] = x;
        }
      });
    }
    parts.forEach((p, index) => {
      if (!p) return;
      const name = typeof p.image === 'string' ? p.image : p.image ? p.image.source : (p.title?.trim() || (p.plot?.trim() ? '(plot)' : `input ${index}`));
      if (p.image !== undefined && backbone && use.has('image')) images.push({ index, source: p.image });
      else if (Object.keys(textLogits[index]!).length > 0) finish({ input: name, logits: textLogits[index]!, ...(keepFeatures ? { features: textFeatures[index]! } : {}) }, index);
      else {
        const given = (['image', 'title', 'plot'] as const).filter((k) => (k === 'image' ? p.image !== undefined : (p[k]?.trim() ?? '') !== ''));
        const why = given.length === 0 ? 'no poster, title or plot given' : `${given.join(' and ')} given, but the model reads ${[...use].filter((u) => accepts.includes(u)).join(', ')}${given.some((g) => g !== 'image') ? ' (and no word of the text is in its vocabulary)' : ''}`;
        finish({ input: name, logits: {}, error: { code: 'INVALID_ARGUMENT', message: `${excerpt(name)}: nothing to predict from: ${why}` } }, index);
      }
    });
    if (images.length > 0 && backbone) {
      const views = parseViews(options.views ?? manifest.views!);
      const names = views.map(viewName);
      const cache = options.cache === false ? undefined : await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
      try {
        const summary = await embedPosters(
          images.map((i) => i.source),
          {
            backbone,
            views,
            keepVectors: true,
            ...(cache ? { cache } : {}),
            ...(cleaner ? { clean: cleaner } : {}),
            ...(options.batchSize ? { batchSize: options.batchSize } : {}),
            ...(options.progress ? { progress: options.progress } : {}),
            ...(options.decode ? { decode: options.decode } : {}),
            // The caller's input indices, not the images': a text-only input never reaches the backbone.
            ...(options.cancelled ? { cancelled: (i: number) => options.cancelled!(images[i]!.index) } : {}),
            onPoster: (result) => {
              const index = images[result.index]!.index;
              if (result.error) finish({ input: result.source, logits: {}, error: { code: result.error.code, message: result.error.message } }, index);
              else {
                const x = standardize(imageHead!.standardizer, meanEmbedding(result.vectors!, names, backbone!.dim));
                const logits = { ...textLogits[index], image: headLogits(imageHead!, x, 1) };
                finish({ input: result.source, logits, ...(keepFeatures ? { features: { ...textFeatures[index], image: x } } : {}) }, index);
              }
            },
          },
        );
        options.onSummary?.(summary);
      } finally {
        cache?.close();
      }
    }
    return results;
  }

  async function predictMany(inputs: readonly PredictInput[], options: PredictOptions = {}): Promise<Prediction[]> {
    const policy = withOverrides(manifest.thresholds, options, genres.length);
    const results: Prediction[] = new Array(inputs.length);
    await logitsOf(inputs, options, (result, index) => {
      let prediction: Prediction;
      if (result.error) prediction = { input: result.input, inputs: [], genres: [], scores: [], error: result.error };
      else {
        const used = MODEL_INPUTS.filter((k) => result.logits[k] !== undefined);
        const ranked = rankGenres(genres, fuse(result.logits, undefined, result.features));
        prediction = { input: result.input, inputs: used, genres: decideGenres(genres, ranked, policy), scores: ranked };
      }
      results[index] = prediction;
      options.onPrediction?.(prediction, index);
    });
    return results;
  }

  const decideScores = (scores: readonly GenreScore[], overrides: PolicyOverrides = {}) =>
    decideGenres(genres, scores, withOverrides(manifest.thresholds, overrides, genres.length));

  return {
    path,
    manifest,
    genres,
    accepts,
    ...(backbone ? { backbone } : {}),
    ...(cleaner ? { cleaner } : {}),
    score,
    decide: decideScores,
    logits: (inputs, options) => logitsOf(inputs, options),
    fuse,
    predict: (async (input: PredictInput | readonly PredictInput[], options?: PredictOptions) => {
      if (Array.isArray(input)) return predictMany(input, options);
      return (await predictMany([input as PredictInput], options))[0]!;
    }) as GenreModel['predict'],
    release: async () => {
      await Promise.all([backbone?.release(), cleaner?.release(), ...textHeads.map((t) => t.encoder.release())]);
    },
  };
}
