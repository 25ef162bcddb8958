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
import { createHash } from 'node:crypto';
import { loadPosterReader } from '../ocr/read.js';
import { type BundleManifest, type EpochRecord, type Fusion, type InputHead, type SplitRecord, writeBundle } from '../model/bundle.js';
import { type BranchLogits, concatFeatures, fuseScores } from '../model/fusion.js';
import { Random } from '../random.js';
import { type HeadSpec, type HeadWeights, type Standardizer, headLogits, standardize } from '../model/head.js';
import { MODEL_INPUTS, type ModelInput } from '../model/inputs.js';
import { DEFAULT_TEXT_ENCODER, fitTextEncoder } from '../text/encoders.js';
import { inputSubsets, poolSubsets, tuneFusionWeights, tuneSubsetShifts } from './fusion.js';
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
  /**
   * Inputs the model reads, one head each. Default: the poster image when
   * `images` are given, plus the title and the plot when the data has them.
   */
  inputs?: readonly ModelInput[];
  /** Text encoder row for the title and plot heads (see TEXT_ENCODERS). Default 'tfidf'. */
  textEncoder?: string;
  /**
   * How the inputs are combined: 'sum' (the heads' logits centred on the genre
   * prior, weights per head and subset) or 'concat' (their features
   * concatenated into an MLP trained with branch dropout). Default 'sum'.
   */
  fusion?: 'sum' | 'concat';
  /** AdamW learning rate of the text heads (sparse TF-IDF features learn faster at a higher rate). */
  textLearningRate?: number;
  /** Also tune a logit shift per subset of inputs on validation (see tuneSubsetShifts). */
  subsetShifts?: boolean;
  /**
   * Read the text printed on each poster that has no title (OCR, see
   * `loadPosterReader`) and use it as the title; read text is cached by content hash.
   */
  readText?: boolean;
}

export interface TrainResult {
  manifest: BundleManifest;
  /** Validation loss of each head's best epoch. */
  heads: Array<{ input: ModelInput; bestEpoch: number; samples: number }>;
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

const TEXT_INPUTS = ['title', 'plot'] as const;

/** A row's text as the hash the split groups duplicates by, for rows without a poster. */
const textHash = (title = '', plot = '') => createHash('sha256').update(`${title}\n${plot}`).digest('hex');

/** The identity standardisation: TF-IDF rows are already scaled, and centring would make them dense. */
function identity(dim: number): Standardizer {
  return { mean: new Float32Array(dim), scale: new Float32Array(dim).fill(1) };
}

function logitToPrior(prior: Float32Array): Float32Array {
  return prior.map((p) => {
    const q = Math.min(Math.max(p, 1e-4), 1 - 1e-4);
    return Math.log(q / (1 - q));
  });
}

/**
 * @example
 *   const result = await train({ data: 'labels.csv', metadata: 'metadata.csv', images: ['posters/'], output: 'my-model' });
 *   result.test.microF1 // -> 0.60 with poster, title and plot, beside result.test.baselines.prior.microF1 // -> 0.40
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const progress = options.progress ?? silentProgress;
  const dataset = await readDataset(options);
  log(formatDatasetReport(dataset.report));
  const genres = dataset.genres;
  if (options.readText) {
    const untitled = dataset.rows.filter((row) => row.image !== null && !row.title && row.genres.length > 0);
    if (untitled.length > 0) {
      const reader = await loadPosterReader({}, options);
      let found = 0;
      try {
        progress.start('read', untitled.length, 'posters');
        for (const row of untitled) {
          const read = await reader.read(row.image!, options.decode ? { decode: options.decode } : {}).catch(() => undefined);
          const title = read?.text.replace(/\s+/g, ' ').trim();
          if (title) {
            row.title = title;
            found++;
          }
          progress.tick();
        }
        progress.done();
      } finally {
        await reader.release();
      }
      log(`read text: ${found} of ${untitled.length} posters without a title got the text read on them as their title`);
    }
  }
  const text = dataset.report.text;
  const inputs: ModelInput[] = options.inputs
    ? MODEL_INPUTS.filter((i) => options.inputs!.includes(i))
    : MODEL_INPUTS.filter((i) => (i === 'image' ? options.images.length > 0 : i === 'title' ? (text?.withTitle ?? 0) > 0 || dataset.rows.some((r) => r.title) : (text?.withPlot ?? 0) > 0));
  if (inputs.length === 0) throw new PosterscopeError('DATA_INVALID', `${options.data}: nothing to train on: no --images and no title or plot text`);
  const withImage = inputs.includes('image');
  const hasText = (row: (typeof dataset.rows)[number]) => (inputs.includes('title') && !!row.title) || (inputs.includes('plot') && !!row.plot);
  const usable = dataset.rows
    .map((row, i) => [row, i] as const)
    .filter(([row]) => row.genres.length > 0 && (withImage ? row.image !== null : hasText(row)));
  const what = withImage ? 'labelled rows with images' : 'labelled rows with a title or plot';
  if (usable.length < 30) throw new PosterscopeError('DATA_INVALID', `${options.data}: only ${usable.length} ${what}; need at least 30 to train`);
  log(`inputs: ${inputs.join(', ')}`);

  const embedded = new Map<number, { mean: Float32Array; extra: Float32Array[]; hash: string }>();
  const unreadable: string[] = [];
  let spec: BackboneSpec | undefined;
  let backboneRecord: BundleManifest['backbone'];
  let viewNames: string[] | undefined;
  let trainViewNames: string[] = [];
  let cleanRecord: BundleManifest['clean'];
  const embedStarted = performance.now();
  if (withImage) {
    spec = typeof options.backbone === 'object' ? options.backbone : await loadBackboneSpec(options.backbone ?? DEFAULT_BACKBONE);
    const backbone = await loadBackbone(spec, options);
    const views = parseViews(options.views ?? TRAIN_DEFAULTS.views);
    viewNames = views.map(viewName);
    const names = viewNames;
    const trainViewSpecs = options.trainViews ?? TRAIN_DEFAULTS.trainViews;
    const trainViews = (trainViewSpecs.length > 0 ? parseViews(trainViewSpecs) : []).filter((v) => !views.some((p) => viewName(p) === viewName(v)));
    trainViewNames = trainViews.map(viewName);
    const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
    const cleaner = options.clean
      ? await loadCleaner(options.clean === true ? {} : options.clean, { ...detectorOptions(options, options.detectorPath), boxCacheDir: join(cacheDir, 'boxes') })
      : undefined;
    if (cleaner) log(`cleaning text from posters before embedding (${cleaner.id})`);
    const cache = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
    backboneRecord = { id: spec.id, sha256: backbone.sha256, spec };
    if (cleaner) cleanRecord = { id: cleaner.id, sha256: cleaner.detector.sha256, settings: cleaner.settings };
    try {
      await embedPosters(
        usable.map(([row]) => row.image!),
        {
          backbone,
          views: [...views, ...trainViews],
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
            const mean = meanEmbedding(result.vectors!, names, backbone.dim);
            const extra = [
              ...(views.length > 1 && (options.viewSamples ?? TRAIN_DEFAULTS.viewSamples) ? names.map((v) => result.vectors!.get(v)!) : []),
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
    if (unreadable.length > 0) log(`unreadable images: ${unreadable.length} (skipped), e.g. ${unreadable.slice(0, 3).join('; ')}`);
  }
  const embedSeconds = (performance.now() - embedStarted) / 1000;

  // Split over the rows that have embeddings (or text, for a text-only model), keeping duplicates together.
  const rows = usable.map(([, i]) => i).filter((i) => !withImage || embedded.has(i));
  const hashOf = (r: number) => (withImage ? embedded.get(r)!.hash : textHash(dataset.rows[r]!.title, dataset.rows[r]!.plot));
  const allLabels = dataset.labels();
  const G = genres.length;
  const labels = new Uint8Array(rows.length * G);
  rows.forEach((r, k) => labels.set(allLabels.subarray(r * G, (r + 1) * G), k * G));
  const fractions: [number, number, number] = [...(options.fractions ?? TRAIN_DEFAULTS.fractions)];
  const seed = options.seed ?? TRAIN_DEFAULTS.seed;
  const split = stratifiedSplit(labels, rows.length, G, { ids: rows.map((r) => dataset.rows[r]!.id), hashes: rows.map(hashOf) }, { fractions, seed });
  log(
    `split (seed ${seed}): train ${split.train.length}, validation ${split.validation.length}, test ${split.test.length}; ` +
      `${split.duplicates} duplicate ${withImage ? 'posters (same id or identical image)' : 'rows (same id or identical text)'} kept in one split`,
  );
  const toRows = (ks: number[]) => ks.map((k) => rows[k]!);
  const trainRows = toRows(split.train);
  const validationRows = toRows(split.validation);
  const testRows = toRows(split.test);
  const labelsOf = (rs: number[]) => {
    const y = new Uint8Array(rs.length * G);
    rs.forEach((r, k) => y.set(allLabels.subarray(r * G, (r + 1) * G), k * G));
    return y;
  };
  const trainPosterLabels = labelsOf(trainRows);
  const prior = labelPrior(trainPosterLabels, trainRows.length, G);

  const settings = {
    head: options.head ?? TRAIN_DEFAULTS.head,
    loss: options.loss ?? TRAIN_DEFAULTS.loss,
    learningRate: options.learningRate ?? TRAIN_DEFAULTS.learningRate,
    weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
    batchSize: options.batchSize ?? TRAIN_DEFAULTS.batchSize,
    maxEpochs: options.maxEpochs ?? TRAIN_DEFAULTS.maxEpochs,
    patience: options.patience ?? TRAIN_DEFAULTS.patience,
  };
  const textLearningRate = options.textLearningRate ?? TRAIN_DEFAULTS.textLearningRate;
  const loss = parseLoss(settings.loss, { labels: trainPosterLabels, rows: trainRows.length, genres: G });
  const validationMetrics = (scores: Float32Array, y: Uint8Array, n: number) => {
    const report = evaluateScores({ scores, labels: y, rows: n, genres, policy: tuneThresholds(scores, y, n, G, { mode: 'global' }) });
    return { microF1: report.microF1, mAP: report.mAP };
  };

  // One head per input, each fitted on the training rows that have its input.
  const fitStarted = performance.now();
  const heads: InputHead[] = [];
  const headRecords: TrainResult['heads'] = [];
  /** Per input: each row's (standardised) features, for the rows that have the input. */
  const features = new Map<ModelInput, Map<number, Float32Array>>();
  let history: EpochRecord[] = [];
  let bestEpoch = 0;
  let imageSamples = 0;
  for (const input of inputs) {
    let fitSet: Examples;
    let validationSet: Examples;
    let standardizer: Standardizer;
    let encoder: InputHead['encoder'];
    const byRow = new Map<number, Float32Array>();
    if (input === 'image') {
      const trainSet = gather(trainRows, embedded, allLabels, G, true);
      standardizer = fitStandardizer(trainSet.x, trainSet.rows);
      trainSet.x = standardize(standardizer, trainSet.x);
      fitSet = trainSet;
      imageSamples = trainSet.rows;
      for (const r of [...trainRows, ...validationRows, ...testRows]) byRow.set(r, standardize(standardizer, embedded.get(r)!.mean));
    } else {
      const textOf = (r: number) => dataset.rows[r]![input] ?? '';
      const fitted = fitTextEncoder(options.textEncoder ?? DEFAULT_TEXT_ENCODER, trainRows.map(textOf));
      encoder = fitted.stored;
      standardizer = identity(fitted.encoder.dim);
      for (const r of [...trainRows, ...validationRows, ...testRows]) {
        const t = textOf(r);
        if (t === '') continue;
        const [x] = fitted.encoder.encodeSync!([t]);
        if (x!.some((v) => v !== 0)) byRow.set(r, x!);
      }
      fitSet = examplesOf(trainRows.filter((r) => byRow.has(r)), byRow, allLabels, G);
      log(`${input}: ${fitted.encoder.dim} ${fitted.stored.row.id} terms; ${fitSet.rows} training rows with a ${input}`);
    }
    features.set(input, byRow);
    validationSet = examplesOf(validationRows.filter((r) => byRow.has(r)), byRow, allLabels, G);
    if (fitSet.rows === 0 || validationSet.rows === 0) throw new PosterscopeError('DATA_INVALID', `${options.data}: no ${input} in the ${fitSet.rows === 0 ? 'training' : 'validation'} rows: leave ${input} out of the inputs`);
    const fit = fitHead(fitSet, validationSet, G, {
      ...settings,
      ...(input === 'image' ? {} : { head: { type: 'linear' } as HeadSpec, learningRate: textLearningRate }),
      loss,
      seed,
      validationMetrics,
      onEpoch: (e: EpochRecord) =>
        log(
          `${input.padEnd(5)} epoch ${String(e.epoch).padStart(3)}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.validationLoss.toFixed(4)}  ` +
            `val micro-F1 ${e.validationMicroF1.toFixed(3)}  val mAP ${e.validationMAP.toFixed(3)}  (${e.seconds.toFixed(1)} s)`,
        ),
    });
    log(`${input}: best epoch ${fit.bestEpoch} of ${fit.history.length} (restored)`);
    if (input === inputs[0]) {
      history = fit.history;
      bestEpoch = fit.bestEpoch;
    }
    heads.push({ input, standardizer, spec: fit.head.spec, layers: fit.head.layers, ...(encoder ? { encoder } : {}) });
    headRecords.push({ input, bestEpoch: fit.bestEpoch, samples: fitSet.rows });
  }
  const fitSeconds = (performance.now() - fitStarted) / 1000;

  // Each row's head logits for the inputs it has.
  const logitsOf = (rs: number[]): BranchLogits[] =>
    rs.map((r) => {
      const out: BranchLogits = {};
      for (const head of heads) {
        const x = features.get(head.input)!.get(r);
        if (x) out[head.input] = headLogits(head as HeadWeights, x, 1);
      }
      return out;
    });
  const validationLogits = logitsOf(validationRows);
  const testLogits = logitsOf(testRows);
  const subsets = inputSubsets(inputs);
  let fusion: Fusion | undefined = heads.length > 1 ? tuneFusionWeights(logitToPrior(prior), validationLogits, labelsOf(validationRows), G, subsets) : undefined;
  let validationFeatures: BranchLogits[] | undefined;
  let testFeatures: BranchLogits[] | undefined;
  if (heads.length > 1 && (options.fusion ?? 'sum') === 'concat') {
    const featuresOf = (rs: number[]) =>
      rs.map((r) => Object.fromEntries(inputs.flatMap((input) => (features.get(input)!.has(r) ? [[input, features.get(input)!.get(r)!]] : []))) as BranchLogits);
    validationFeatures = featuresOf(validationRows);
    testFeatures = featuresOf(testRows);
    fusion = fitConcat(inputs, heads, featuresOf(trainRows), labelsOf(trainRows), validationFeatures, labelsOf(validationRows), logitToPrior(prior), G, {
      ...settings,
      loss,
      seed,
      validationMetrics,
      log,
    });
  }
  const weightsText = (w: Record<string, number | undefined>) => Object.entries(w).map(([k, v]) => `${k} ${v!.toFixed(2)}`).join(', ');
  if (fusion?.type === 'sum') {
    log(`fusion: sum around the prior, head weights ${weightsText(fusion.weights)} (tuned on validation over ${subsets.length} subsets of inputs)`);
    for (const s of fusion.subsets ?? []) log(`  ${s.inputs.join(' + ')}: ${weightsText(s.weights)}`);
  }

  // Thresholds on validation (every subset of inputs pooled: one policy for all), then the test split with every input a row has.
  const pooled = fusion
    ? poolSubsets(fusion, validationLogits, labelsOf(validationRows), G, subsets, validationFeatures)
    : { scores: fuseAll(undefined, validationLogits, G), labels: labelsOf(validationRows), samples: validationRows.length };
  const thresholdOptions = options.thresholds ?? { mode: TRAIN_DEFAULTS.thresholds, minPrecision: TRAIN_DEFAULTS.minPrecision };
  const policy = tuneThresholds(pooled.scores, pooled.labels, pooled.samples, G, thresholdOptions);
  if (fusion?.type === 'sum' && (options.subsetShifts ?? TRAIN_DEFAULTS.subsetShifts)) {
    fusion = tuneSubsetShifts(fusion, validationLogits, labelsOf(validationRows), G, subsets, policy);
    log(`fusion: logit shifts per subset for the threshold ${policy.global}: ${fusion.subsets!.map((s) => `${s.inputs.join(' + ')} ${s.shift! >= 0 ? '+' : ''}${s.shift}`).join(', ')}`);
  }
  const testScores = fuseAll(fusion, testLogits, G, testFeatures);
  const test = evaluateScores({ scores: testScores, labels: labelsOf(testRows), rows: testRows.length, genres, policy, trainPrior: prior, seed });

  const idsOf = (rs: number[]) => rs.map((r) => ({ id: dataset.rows[r]!.id, hash: hashOf(r) }));
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
      ...(backboneRecord ? { backbone: backboneRecord, views: viewNames! } : {}),
      ...(cleanRecord ? { clean: cleanRecord } : {}),
      genres,
      heads,
      ...(fusion ? { fusion } : {}),
      inputs: { accepts: inputs, tunedOn: fusion ? subsets : [inputs] },
      thresholds: policy,
      metrics: { test, split: { train: trainRows.length, validation: validationRows.length, test: testRows.length } },
      history,
      training: {
        data: options.data,
        images: options.images,
        ...(options.metadata ? { metadata: options.metadata } : {}),
        ...(options.titleColumn !== undefined ? { titleColumn: options.titleColumn } : {}),
        ...(options.plotColumn !== undefined ? { plotColumn: options.plotColumn } : {}),
        trainViews: trainViewNames,
        loss: settings.loss,
        learningRate: settings.learningRate,
        ...(inputs.some((i) => i !== 'image') ? { textLearningRate, textEncoder: options.textEncoder ?? DEFAULT_TEXT_ENCODER } : {}),
        ...(fusion ? { fusion: fusion.type } : {}),
        weightDecay: settings.weightDecay,
        batchSize: settings.batchSize,
        patience: settings.patience,
        seed,
        bestEpoch,
        heads: headRecords,
        samples: withImage ? imageSamples : trainRows.length,
        prior: Array.from(prior, (v) => +v.toFixed(6)),
        unreadable: unreadable.length,
      },
    },
    splitRecord,
    {
      // report.html is written inside the new bundle before the swap; a failure to draw it only costs the page.
      files: (m) => {
        const testLabels = labelsOf(testRows);
        return trainingReportFiles(m, { model: options.output, test, scores: testScores, labels: testLabels, prior, seed, log,
          posters: testRows.map((r) => ({ id: dataset.rows[r]!.id, ...(dataset.rows[r]!.image ? { image: dataset.rows[r]!.image! } : {}) })),
          splits: { train: trainPosterLabels, validation: labelsOf(validationRows), test: testLabels } });
      },
    },
  );
  return {
    manifest,
    heads: headRecords,
    dataset: dataset.report,
    test,
    bestEpoch,
    seconds: { embed: embedSeconds, fit: fitSeconds, total: (performance.now() - started) / 1000 },
  };
}

/** Examples from per-row feature vectors. */
function examplesOf(rs: number[], byRow: Map<number, Float32Array>, allLabels: Uint8Array, G: number): Examples {
  const dim = rs.length > 0 ? byRow.get(rs[0]!)!.length : 0;
  const x = new Float32Array(rs.length * dim);
  const y = new Uint8Array(rs.length * G);
  rs.forEach((r, k) => {
    x.set(byRow.get(r)!, k * dim);
    y.set(allLabels.subarray(r * G, (r + 1) * G), k * G);
  });
  return { x, y, rows: rs.length };
}

/** Fused probabilities [rows x genres] with every input each row has (the prior where it has none). */
function fuseAll(fusion: Fusion | undefined, logits: readonly BranchLogits[], G: number, features?: readonly BranchLogits[]): Float32Array {
  const out = new Float32Array(logits.length * G);
  logits.forEach((row, r) => {
    if (Object.keys(row).length > 0) out.set(fuseScores(fusion, row, 1, undefined, features?.[r]), r * G);
    else if (fusion) out.set(fusion.center.map((c) => 1 / (1 + Math.exp(-c))), r * G);
  });
  return out;
}

/**
 * The concat fusion: each training row twice, once with every input it has
 * and once with a random non-empty subset of them (branch dropout), its
 * features concatenated with presence flags into an MLP; validated on rows
 * with all their inputs.
 */
function fitConcat(
  inputs: ModelInput[],
  heads: InputHead[],
  trainFeatures: BranchLogits[],
  trainLabels: Uint8Array,
  validationFeatures: BranchLogits[],
  validationLabels: Uint8Array,
  center: Float32Array,
  G: number,
  options: Omit<Parameters<typeof fitHead>[3], 'head'> & { log: (line: string) => void },
): Fusion {
  const dims = inputs.map((input) => heads.find((h) => h.input === input)!.layers[0]!.inputs);
  const shape = { inputs, dims };
  const width = dims.reduce((a, b) => a + b, 0) + inputs.length;
  const random = new Random((options.seed ?? 0) + 1);
  const samples: Array<{ row: number; use: ModelInput[] }> = [];
  trainFeatures.forEach((f, row) => {
    const present = inputs.filter((i) => f[i] !== undefined);
    if (present.length === 0) return;
    samples.push({ row, use: present });
    let use = present.filter(() => random.next() < 0.5);
    if (use.length === 0) use = [present[Math.floor(random.next() * present.length)]!];
    samples.push({ row, use });
  });
  const x = new Float32Array(samples.length * width);
  const y = new Uint8Array(samples.length * G);
  samples.forEach(({ row, use }, k) => {
    x.set(concatFeatures(shape, trainFeatures[row]!, 1, use), k * width);
    y.set(trainLabels.subarray(row * G, (row + 1) * G), k * G);
  });
  const vx = new Float32Array(validationFeatures.length * width);
  validationFeatures.forEach((f, r) => vx.set(concatFeatures(shape, f, 1, inputs), r * width));
  const spec: HeadSpec = { type: 'mlp', hidden: TRAIN_DEFAULTS.concat.hidden, dropout: TRAIN_DEFAULTS.concat.dropout };
  options.log(`concat: ${samples.length} samples (each training row with all its inputs and with a random subset) x ${width} features, MLP ${spec.hidden} hidden`);
  const fit = fitHead({ x, y, rows: samples.length }, { x: vx, y: validationLabels, rows: validationFeatures.length }, G, {
    ...options,
    head: spec,
    onEpoch: (e) =>
      options.log(`concat epoch ${String(e.epoch).padStart(3)}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.validationLoss.toFixed(4)}  val micro-F1 ${e.validationMicroF1.toFixed(3)}  val mAP ${e.validationMAP.toFixed(3)}  (${e.seconds.toFixed(1)} s)`),
  });
  options.log(`concat: best epoch ${fit.bestEpoch} of ${fit.history.length} (restored)`);
  return { type: 'concat', center: Array.from(center, (v) => +v.toFixed(6)), inputs, dims, spec, layers: fit.head.layers };
}
