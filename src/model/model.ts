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
import type { DecodeOptions } from '../image/poster.js';
import { parseViews } from '../image/views.js';
import { defaultCacheDir } from '../models/resolve.js';
import type { Progress } from '../progress.js';
import { predictScores } from '../train/fit.js';
import { GenreHead } from '../train/head.js';
import { type Standardizer, standardize } from '../train/standardize.js';
import { type BundleManifest, readBundle } from './bundle.js';
import { type ThresholdPolicy, applyPolicy } from './thresholds.js';

/** The bundle shipped with posterscope, used when no path is given. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/default', import.meta.url));

export interface PredictOptions {
  /** One global threshold instead of the bundle's policy (per-genre thresholds are then ignored). */
  threshold?: number;
  /** Keep at most k genres per poster. */
  topK?: number;
  /** Always return at least the top genre. */
  atLeastOne?: boolean;
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
}

export interface GenreScore {
  genre: string;
  score: number;
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
  decide(scores: readonly GenreScore[], options?: Pick<PredictOptions, 'threshold' | 'topK' | 'atLeastOne'>): string[];
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

function policyFor(manifest: BundleManifest, options: PredictOptions): ThresholdPolicy {
  const policy: ThresholdPolicy = { ...manifest.thresholds };
  if (options.threshold !== undefined) {
    if (!(options.threshold >= 0 && options.threshold <= 1)) throw invalidParameterError('threshold', 'number between 0 and 1', options.threshold);
    policy.global = options.threshold;
    delete policy.perGenre;
  }
  if (options.topK !== undefined) policy.topK = checkInteger('topK', options.topK, 1, manifest.genres.length);
  if (options.atLeastOne !== undefined) policy.atLeastOne = options.atLeastOne;
  return policy;
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
  // The backbone must be the exact file the head was trained on.
  const spec = { ...manifest.backbone.spec, file: { ...manifest.backbone.spec.file, sha256: manifest.backbone.sha256 } };
  const backbone = await loadBackbone(spec, options);
  const head = GenreHead.fromLayers(
    manifest.head.spec,
    manifest.head.layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weight: bundle.tensor(l.weight), bias: bundle.tensor(l.bias) })),
  );
  if (head.inputs !== backbone.dim) {
    throw new PosterscopeError('MODEL_INVALID', `${path}: head expects ${head.inputs}-d embeddings, backbone gives ${backbone.dim}`);
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
  const standardizer: Standardizer = { mean: bundle.tensor(manifest.standardize.mean), scale: bundle.tensor(manifest.standardize.scale) };
  const genres = manifest.genres;
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);

  const score = (embeddings: Float32Array, rows: number) => predictScores(head, standardize(standardizer, embeddings), rows);

  async function predictMany(inputs: readonly PosterSource[], options: PredictOptions = {}): Promise<Prediction[]> {
    const policy = policyFor(manifest, options);
    const views = parseViews(options.views ?? manifest.views);
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
        onPoster: (result) => {
          let prediction: Prediction;
          if (result.error) {
            prediction = { input: result.source, genres: [], scores: [], error: { code: result.error.code, message: result.error.message } };
          } else {
            // Test-time augmentation: the mean of the views' embeddings.
            const mean = new Float32Array(backbone.dim);
            for (const vector of result.vectors!.values()) for (let d = 0; d < mean.length; d++) mean[d]! += vector[d]! / views.length;
            const scores = score(mean, 1);
            const decided = applyPolicy(scores, 1, genres.length, policy);
            const ranked = genres.map((genre, g) => ({ genre, score: scores[g]!, chosen: decided[g] === 1 })).sort((a, b) => b.score - a.score);
            prediction = {
              input: result.source,
              genres: ranked.filter((r) => r.chosen).map((r) => r.genre),
              scores: ranked.map(({ genre, score }) => ({ genre, score })),
            };
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

  const column = new Map(genres.map((g, i) => [g, i]));
  const decide = (scores: readonly GenreScore[], options: Pick<PredictOptions, 'threshold' | 'topK' | 'atLeastOne'> = {}) => {
    const row = new Float32Array(genres.length);
    for (const { genre, score } of scores) row[column.get(genre)!] = score;
    const chosen = applyPolicy(row, 1, genres.length, policyFor(manifest, options));
    return [...scores].sort((a, b) => b.score - a.score).filter((s) => chosen[column.get(s.genre)!] === 1).map((s) => s.genre);
  };

  return {
    path,
    manifest,
    genres,
    backbone,
    ...(cleaner ? { cleaner } : {}),
    score,
    decide,
    predict: (async (input: PosterSource | readonly PosterSource[], options?: PredictOptions) => {
      if (Array.isArray(input)) return predictMany(input, options);
      return (await predictMany([input as PosterSource], options))[0]!;
    }) as GenreModel['predict'],
    release: async () => {
      await Promise.all([backbone.release(), cleaner?.release()]);
    },
  };
}
