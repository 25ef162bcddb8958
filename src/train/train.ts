/**
 * `train()`: labelled posters in, a model bundle out.
 *
 * 1. read the data set and report what was found, before any work;
 * 2. embed every poster with the prediction views (and the training-only
 *    augmented views) through the embedding cache;
 * 3. split 80/10/10 with iterative stratification, duplicates kept together;
 * 4. fit the head on standardised embeddings, early-stopping on validation;
 * 5. tune the threshold policy on validation;
 * 6. evaluate on the test split beside the baselines, and save the bundle.
 */
import { join } from 'node:path';
import { type LoadBackboneOptions, loadBackbone } from '../backbone/backbone.js';
import { type BackboneSpec, DEFAULT_BACKBONE, loadBackboneSpec } from '../backbone/registry.js';
import { type Dataset, type DatasetOptions, formatDatasetReport, readDataset } from '../data/dataset.js';
import { stratifiedSplit } from '../data/split.js';
import { EmbeddingCache } from '../embed/cache.js';
import { embedPosters } from '../embed/pipeline.js';
import { type CleanSettings, detectorOptions, loadCleaner } from '../clean/clean.js';
import { PosterscopeError } from '../errors.js';
import { labelPrior } from '../eval/metrics.js';
import { type EvaluationReport, evaluateScores } from '../eval/report.js';
import type { DecodeOptions } from '../image/poster.js';
import { parseViews, viewName } from '../image/views.js';
import { type BundleManifest, type EpochRecord, type SplitRecord, writeBundle } from '../model/bundle.js';
import { type HeadSpec, headScores, standardize } from '../model/head.js';
import { meanEmbedding } from '../model/model.js';
import { defaultCacheDir } from '../models/resolve.js';
import { type Progress, silentProgress } from '../progress.js';
import { VERSION } from '../version.js';
import { TRAIN_DEFAULTS } from './defaults.js';
import { type Examples, fitHead } from './fit.js';
import { parseLoss } from './loss.js';
import { fitStandardizer } from './standardize.js';
import { type TuneOptions, tuneThresholds } from './thresholds.js';
import { trainingReportFiles } from '../report/report.js';


export interface TrainOptions extends Omit<DatasetOptions, 'strict'>, LoadBackboneOptions {
  strict?: boolean;
  /** Where the bundle is written. */
  output: string;
  backbone?: string | BackboneSpec;
  /** Unset settings below take their value from TRAIN_DEFAULTS. */
  views?: readonly string[];
  trainViews?: readonly string[];
  /** Also train on each prediction view's own embedding, not only their mean. */
  viewSamples?: boolean;
  head?: HeadSpec;
  /** bce | bce-weighted | focal | asymmetric. */
  loss?: string;
  learningRate?: number;
  weightDecay?: number;
  batchSize?: number;
  maxEpochs?: number;
  patience?: number;
  seed?: number;
  fractions?: [number, number, number];
  thresholds?: TuneOptions;
  /**
   * Remove text from every poster before embedding (see `loadCleaner`), with
   * these settings or the defaults. The bundle records it, so the model's
   * `predict` cleans posters the same way.
   */
  clean?: boolean | CleanSettings;
  /** An explicit path to the text detector's ONNX file (checksum still verified). */
  detectorPath?: string;
  progress?: Progress;
  /** Limits on the poster files (pixels, bytes); default DEFAULT_DECODE_OPTIONS. */
  decode?: DecodeOptions;
  /** Human-readable progress lines (the data set report, epochs, results). */
  log?: (line: string) => void;
}

export interface TrainResult {
  manifest: BundleManifest;
  dataset: Dataset['report'];
  test: EvaluationReport;
  bestEpoch: number;
  seconds: { embed: number; fit: number; total: number };
}

function gather(rows: number[], embedded: Map<number, { mean: Float32Array; extra: Float32Array[] }>, labels: Uint8Array, genres: number, withExtra: boolean): Examples {
  const dim = embedded.get(rows[0]!)!.mean.length;
  const count = rows.reduce((n, r) => n + 1 + (withExtra ? embedded.get(r)!.extra.length : 0), 0);
  const x = new Float32Array(count * dim);
  const y = new Uint8Array(count * genres);
  let k = 0;
  for (const r of rows) {
    const e = embedded.get(r)!;
    for (const vector of [e.mean, ...(withExtra ? e.extra : [])]) {
      x.set(vector, k * dim);
      y.set(labels.subarray(r * genres, (r + 1) * genres), k * genres);
      k++;
    }
  }
  return { x, y, rows: count };
}

/**
 * @example
 *   const result = await train({ data: 'labels.csv', images: ['posters/'], output: 'my-model' });
 *   result.test.microF1 // -> 0.53, beside result.test.baselines.prior.microF1 // -> 0.40
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const progress = options.progress ?? silentProgress;
  const dataset = await readDataset(options);
  log(formatDatasetReport(dataset.report));
  const genres = dataset.genres;
  const usable = dataset.rows.map((row, i) => [row, i] as const).filter(([row]) => row.image !== null && row.genres.length > 0);
  if (usable.length < 30) throw new PosterscopeError('DATA_INVALID', `${options.data}: only ${usable.length} labelled rows with images; need at least 30 to train`);

  const spec = typeof options.backbone === 'object' ? options.backbone : await loadBackboneSpec(options.backbone ?? DEFAULT_BACKBONE);
  const backbone = await loadBackbone(spec, options);
  const views = parseViews(options.views ?? TRAIN_DEFAULTS.views);
  const viewNames = views.map(viewName);
  const trainViewNames = options.trainViews ?? TRAIN_DEFAULTS.trainViews;
  const trainViews = (trainViewNames.length > 0 ? parseViews(trainViewNames) : []).filter((v) => !views.some((p) => viewName(p) === viewName(v)));
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
  const cleaner = options.clean
    ? await loadCleaner(options.clean === true ? {} : options.clean, { ...detectorOptions(options, options.detectorPath), boxCacheDir: join(cacheDir, 'boxes') })
    : undefined;
  if (cleaner) log(`cleaning text from posters before embedding (${cleaner.id})`);
  const cache = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });

  // Embed: every view needed, cached.
  const embedStarted = performance.now();
  const embedded = new Map<number, { mean: Float32Array; extra: Float32Array[]; hash: string }>();
  const unreadable: string[] = [];
  const allViews = [...views, ...trainViews];
  try {
    await embedPosters(
      usable.map(([row]) => row.image!),
      {
        backbone,
        views: allViews,
        cache,
        keepVectors: true,
        progress,
        ...(cleaner ? { clean: cleaner } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
        onPoster: (result) => {
          if (result.error) {
            unreadable.push(result.error.message);
            return;
          }
          const mean = meanEmbedding(result.vectors!, viewNames, backbone.dim);
          const extra = [
            ...(views.length > 1 && (options.viewSamples ?? TRAIN_DEFAULTS.viewSamples) ? viewNames.map((v) => result.vectors!.get(v)!) : []),
            ...trainViews.map((v) => result.vectors!.get(viewName(v))!),
          ];
          embedded.set(usable[result.index]![1], { mean, extra, hash: result.contentHash! });
        },
      },
    );
  } finally {
    try {
      cache.close();
    } finally {
      await Promise.all([backbone.release(), cleaner?.release()]);
    }
  }
  const embedSeconds = (performance.now() - embedStarted) / 1000;
  if (unreadable.length > 0) {
    log(`unreadable images: ${unreadable.length} (skipped), e.g. ${unreadable.slice(0, 3).join('; ')}`);
  }

  // Split over the rows that have embeddings, keeping duplicates together.
  const rows = usable.map(([, i]) => i).filter((i) => embedded.has(i));
  const allLabels = dataset.labels();
  const labels = new Uint8Array(rows.length * genres.length);
  rows.forEach((r, k) => labels.set(allLabels.subarray(r * genres.length, (r + 1) * genres.length), k * genres.length));
  const fractions: [number, number, number] = [...(options.fractions ?? TRAIN_DEFAULTS.fractions)];
  const seed = options.seed ?? TRAIN_DEFAULTS.seed;
  const split = stratifiedSplit(labels, rows.length, genres.length, {
    ids: rows.map((r) => dataset.rows[r]!.id),
    hashes: rows.map((r) => embedded.get(r)!.hash),
  }, { fractions, seed });
  log(
    `split (seed ${seed}): train ${split.train.length}, validation ${split.validation.length}, test ${split.test.length}; ` +
      `${split.duplicates} duplicate posters (same id or identical image) kept in one split`,
  );
  const toRows = (ks: number[]) => ks.map((k) => rows[k]!);
  const trainRows = toRows(split.train);
  const validationRows = toRows(split.validation);
  const testRows = toRows(split.test);

  const G = genres.length;
  const trainSet = gather(trainRows, embedded, allLabels, G, true);
  const validationSet = gather(validationRows, embedded, allLabels, G, false);
  const testSet = gather(testRows, embedded, allLabels, G, false);
  const standardizer = fitStandardizer(trainSet.x, trainSet.rows);
  for (const set of [trainSet, validationSet, testSet]) set.x = standardize(standardizer, set.x);

  // Fit.
  const fitStarted = performance.now();
  const settings = {
    head: options.head ?? TRAIN_DEFAULTS.head,
    loss: options.loss ?? TRAIN_DEFAULTS.loss,
    learningRate: options.learningRate ?? TRAIN_DEFAULTS.learningRate,
    weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
    batchSize: options.batchSize ?? TRAIN_DEFAULTS.batchSize,
    maxEpochs: options.maxEpochs ?? TRAIN_DEFAULTS.maxEpochs,
    patience: options.patience ?? TRAIN_DEFAULTS.patience,
  };
  const trainPosterLabels = gather(trainRows, embedded, allLabels, G, false).y;
  const loss = parseLoss(settings.loss, { labels: trainPosterLabels, rows: trainRows.length, genres: G });
  const validationMetrics = (scores: Float32Array, y: Uint8Array, n: number) => {
    const report = evaluateScores({ scores, labels: y, rows: n, genres, policy: tuneThresholds(scores, y, n, G, { mode: 'global' }) });
    return { microF1: report.microF1, mAP: report.mAP };
  };
  const fit = fitHead(trainSet, validationSet, G, {
    ...settings,
    loss,
    seed,
    validationMetrics,
    onEpoch: (e: EpochRecord) =>
      log(
        `epoch ${String(e.epoch).padStart(3)}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.validationLoss.toFixed(4)}  ` +
          `val micro-F1 ${e.validationMicroF1.toFixed(3)}  val mAP ${e.validationMAP.toFixed(3)}  (${e.seconds.toFixed(1)} s)`,
      ),
  });
  const fitSeconds = (performance.now() - fitStarted) / 1000;
  log(`best epoch ${fit.bestEpoch} of ${fit.history.length} (restored), ${fitSeconds.toFixed(1)} s`);

  // Thresholds on validation, then the test split, beside the baselines.
  const validationScores = headScores(fit.head, validationSet.x, validationSet.rows);
  const thresholdOptions = options.thresholds ?? { mode: TRAIN_DEFAULTS.thresholds, minPrecision: TRAIN_DEFAULTS.minPrecision };
  const policy = tuneThresholds(validationScores, validationSet.y, validationSet.rows, G, thresholdOptions);
  const prior = labelPrior(trainPosterLabels, trainRows.length, G);
  const testScores = headScores(fit.head, testSet.x, testSet.rows);
  const test = evaluateScores({ scores: testScores, labels: testSet.y, rows: testSet.rows, genres, policy, trainPrior: prior, seed });

  const idsOf = (rs: number[]) => rs.map((r) => ({ id: dataset.rows[r]!.id, hash: embedded.get(r)!.hash }));
  const splitRecord: SplitRecord = {
    seed,
    fractions,
    data: options.data,
    train: idsOf(trainRows),
    validation: idsOf(validationRows),
    test: idsOf(testRows),
  };
  const manifest = await writeBundle(
    options.output,
    {
      createdAt: new Date().toISOString(),
      posterscopeVersion: VERSION,
      backbone: { id: spec.id, sha256: backbone.sha256, spec },
      views: viewNames,
      ...(cleaner ? { clean: { id: cleaner.id, sha256: cleaner.detector.sha256, settings: cleaner.settings } } : {}),
      genres,
      heads: [{ input: 'image', standardizer, spec: settings.head, layers: fit.head.layers }],
      thresholds: policy,
      metrics: { test, split: { train: trainRows.length, validation: validationRows.length, test: testRows.length } },
      history: fit.history,
      training: {
        data: options.data,
        images: options.images,
        trainViews: trainViews.map(viewName),
        loss: settings.loss,
        learningRate: settings.learningRate,
        weightDecay: settings.weightDecay,
        batchSize: settings.batchSize,
        patience: settings.patience,
        seed,
        bestEpoch: fit.bestEpoch,
        samples: trainSet.rows,
        prior: Array.from(prior, (v) => +v.toFixed(6)),
        unreadable: unreadable.length,
      },
    },
    splitRecord,
    {
      // report.html is written inside the new bundle before the swap; a failure to draw it only costs the page.
      files: (m) => trainingReportFiles(m, { model: options.output, test, scores: testScores, labels: testSet.y, prior, seed, log,
        posters: testRows.map((r) => ({ id: dataset.rows[r]!.id, image: dataset.rows[r]!.image! })),
        splits: { train: trainPosterLabels, validation: validationSet.y, test: testSet.y } }),
    },
  );
  return {
    manifest,
    dataset: dataset.report,
    test,
    bestEpoch: fit.bestEpoch,
    seconds: { embed: embedSeconds, fit: fitSeconds, total: (performance.now() - started) / 1000 },
  };
}
