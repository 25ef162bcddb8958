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
import { type ErrorCode, PosterscopeError, checkInteger, invalidParameterError } from '../errors.js';
import { type GenreScore, type PolicyOverrides, decideGenres, rankGenres, withOverrides } from '../eval/decide.js';
import type { DecodeOptions } from '../image/poster.js';
import { parseViews, viewName } from '../image/views.js';
import { defaultCacheDir } from '../models/resolve.js';
import type { Progress } from '../progress.js';
import { type BundleManifest, readBundle } from './bundle.js';
import { headScores, standardize } from './head.js';

export type { GenreScore } from '../eval/decide.js';

/** The bundle shipped with posterscope, used when no path is given. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/default', import.meta.url));

export interface PredictOptions extends PolicyOverrides {
  /** Views averaged for each poster; default the bundle's. */
  views?: readonly string[];
  /** Embedding cache: default on, in the cache directory; false to keep nothing. */
  cache?: boolean;
  batchSize?: number;
  progress?: Progress;
  decode?: DecodeOptions;
  /** Called as each poster finishes, in completion order. */
  onPrediction?: (prediction: Prediction, index: number) => void;
  /** Called once with the embedding run's counts (backbone passes, cache hits, timing). */
  onSummary?: (summary: EmbedSummary) => void;
  /** Inputs whose caller has gone: dropped from the run and answered with a TIMEOUT error (see EmbedOptions). */
  cancelled?: (index: number) => boolean;
}

export interface Prediction {
  input: string;
  /** Predicted genres, highest score first. */
  genres: string[];
  /** Every genre's score, highest first. */
  scores: GenreScore[];
  error?: { code: ErrorCode; message: string };
}

export interface GenreModel {
  readonly path: string;
  readonly manifest: BundleManifest;
  readonly genres: readonly string[];
  readonly backbone: Backbone;
  /** Removes text from posters before embedding, when the bundle (or loadModel's options) asks for it. */
  readonly cleaner?: PosterCleaner;
  /** Scores [rows x genres] for mean view embeddings [rows x dim]. */
  score(embeddings: Float32Array, rows: number): Float32Array;
  /** Genres chosen from a prediction's scores under the bundle's policy, or one overridden per call. */
  decide(scores: readonly GenreScore[], overrides?: PolicyOverrides): string[];
  predict(input: PosterSource, options?: PredictOptions): Promise<Prediction>;
  predict(inputs: readonly PosterSource[], options?: PredictOptions): Promise<Prediction[]>;
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

/**
 * Loads a bundle and its backbone.
 *
 * @example
 *   const model = await loadModel();
 *   const [prediction] = await model.predict(['poster.jpg']);
 *   // -> { input: 'poster.jpg', genres: ['Drama'], scores: [{ genre: 'Drama', score: 0.61 }, { genre: 'Romance', score: 0.24 }, ...] }
 *   await model.release();
 */
export async function loadModel(path: string = DEFAULT_MODEL_PATH, options: LoadModelOptions = {}): Promise<GenreModel> {
  if (path === DEFAULT_MODEL_PATH && !existsSync(path)) {
    throw new PosterscopeError('MODEL_NOT_FOUND', `the default model is missing from this install (${path}); pass --model PATH`);
  }
  const bundle = await readBundle(path);
  const { manifest } = bundle;
  const head = bundle.heads[0]!;
  // The backbone must be the exact file the head was trained on.
  const spec = { ...manifest.backbone.spec, file: { ...manifest.backbone.spec.file, sha256: manifest.backbone.sha256 } };
  const backbone = await loadBackbone(spec, options);
  if (head.layers[0]!.inputs !== backbone.dim) {
    await backbone.release();
    throw new PosterscopeError('MODEL_INVALID', `${path}: head expects ${head.layers[0]!.inputs}-d embeddings, backbone gives ${backbone.dim}`);
  }
  let cleaner: PosterCleaner | undefined;
  if (options.clean !== false && (manifest.clean || options.clean)) {
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
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);

  const score = (embeddings: Float32Array, rows: number) => headScores(head, standardize(head.standardizer, embeddings), rows);

  async function predictMany(inputs: readonly PosterSource[], options: PredictOptions = {}): Promise<Prediction[]> {
    const policy = withOverrides(manifest.thresholds, options, genres.length);
    const views = parseViews(options.views ?? manifest.views);
    const names = views.map(viewName);
    const cache = options.cache === false ? undefined : await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
    const results: Prediction[] = new Array(inputs.length);
    try {
      const summary = await embedPosters(inputs, {
        backbone,
        views,
        keepVectors: true,
        ...(cache ? { cache } : {}),
        ...(cleaner ? { clean: cleaner } : {}),
        ...(options.batchSize ? { batchSize: options.batchSize } : {}),
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
        ...(options.cancelled ? { cancelled: options.cancelled } : {}),
        onPoster: (result) => {
          let prediction: Prediction;
          if (result.error) {
            prediction = { input: result.source, genres: [], scores: [], error: { code: result.error.code, message: result.error.message } };
          } else {
            const ranked = rankGenres(genres, score(meanEmbedding(result.vectors!, names, backbone.dim), 1));
            prediction = { input: result.source, genres: decideGenres(genres, ranked, policy), scores: ranked };
          }
          results[result.index] = prediction;
          options.onPrediction?.(prediction, result.index);
        },
      });
      options.onSummary?.(summary);
    } finally {
      cache?.close();
    }
    return results;
  }

  const decideScores = (scores: readonly GenreScore[], overrides: PolicyOverrides = {}) =>
    decideGenres(genres, scores, withOverrides(manifest.thresholds, overrides, genres.length));

  return {
    path,
    manifest,
    genres,
    backbone,
    ...(cleaner ? { cleaner } : {}),
    score,
    decide: decideScores,
    predict: (async (input: PosterSource | readonly PosterSource[], options?: PredictOptions) => {
      if (Array.isArray(input)) return predictMany(input, options);
      return (await predictMany([input as PosterSource], options))[0]!;
    }) as GenreModel['predict'],
    release: async () => {
      await Promise.all([backbone.release(), cleaner?.release()]);
    },
  };
}
