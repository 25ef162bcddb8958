/**
 * `evaluate()`: how good a bundle is, on its own test split or on any
 * labelled file, always beside the label-frequency prior and random scores.
 * It gathers the model's scores and the labels; the report itself is
 * `evaluateScores` (eval/report.ts).
 */
import { resolve } from 'node:path';
import { readDataset, type DatasetOptions } from '../data/dataset.js';
import { PosterscopeError } from '../errors.js';
import type { DecodeOptions } from '../image/poster.js';
import { type EvaluationReport, evaluateScores } from '../eval/report.js';
import { type EvaluationCharts, evaluationCharts, genreCounts } from '../eval/curves.js';
import type { Progress } from '../progress.js';
import { readSplit } from './bundle.js';
import { type LoadModelOptions, loadModel } from './model.js';

export interface EvaluateOptions extends LoadModelOptions, Partial<Omit<DatasetOptions, 'genres'>> {
  /** Bundle directory; default the built-in model. */
  model?: string;
  /**
   * Which rows: `test` (default when the data is the bundle's own training
   * file), `validation`, or `all` (default for any other file).
   */
  split?: 'test' | 'validation' | 'all';
  views?: readonly string[];
  progress?: Progress;
  /** Limits on the poster files (pixels, bytes); default DEFAULT_DECODE_OPTIONS. */
  decode?: DecodeOptions;
  log?: (line: string) => void;
  /** Also compute what the report's charts draw (`charts`); default true. */
  charts?: boolean;
}

export interface ModelEvaluation extends EvaluationReport {
  model: string;
  data: string;
  split: 'test' | 'validation' | 'all';
  /** Rows skipped because their image was missing or unreadable. */
  skipped: number;
  /** Curves, confusion, calibration, class balance, mistakes and training history (see eval/curves.ts). */
  charts?: EvaluationCharts;
}

/**
 * @example
 *   const report = await evaluate({ model: 'my-model' });
 *   [report.microF1, report.baselines.prior.microF1] // -> [0.53, 0.40]
 */
export async function evaluate(options: EvaluateOptions = {}): Promise<ModelEvaluation> {
  const model = await loadModel(options.model, options);
  try {
    const { training } = model.manifest;
    const data = options.data ?? training?.data;
    const images = options.images?.length ? options.images : training?.images;
    if (!data || !images?.length) {
      throw new PosterscopeError('INVALID_ARGUMENT', 'Expected --data FILE and --images DIR (the bundle does not record its training data) for data but received nothing');
    }
    const ownData = training !== undefined && resolve(training.data) === resolve(data);
    const split = options.split ?? (ownData ? 'test' : 'all');
    const { model: _model, split: _split, views: _views, progress: _progress, log: _log, charts: _charts, ...datasetOptions } = options;
    const dataset = await readDataset({ ...datasetOptions, data, images });
    let rows = dataset.rows.filter((row) => row.image !== null);
    // The split record also gives the report its class balance; for --split all it is optional.
    const record = split !== 'all' ? await readSplit(model) : ownData ? await readSplit(model).catch(() => undefined) : undefined;
    if (split !== 'all') {
      if (!record) throw new PosterscopeError('MODEL_INVALID', `${model.path} has no split.json: use --split all`);
      const ids = new Set(record[split].map((r) => r.id));
      rows = rows.filter((row) => ids.has(row.id));
      if (rows.length === 0) throw new PosterscopeError('DATA_INVALID', `${data}: none of the bundle's ${split} posters are in this file`);
    }
    const genres = model.genres;
    const column = new Map(genres.map((g, i) => [g, i]));
    const predictions = await model.predict(
      rows.map((r) => r.image!),
      {
        ...(options.views ? { views: options.views } : {}),
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
      },
    );
    const kept = predictions.map((p, i) => [p, rows[i]!] as const).filter(([p]) => !p.error);
    const n = kept.length;
    const G = genres.length;
    const scores = new Float32Array(n * G);
    const labels = new Uint8Array(n * G);
    kept.forEach(([prediction, row], k) => {
      for (const { genre, score } of prediction.scores) scores[k * G + column.get(genre)!] = score;
      for (const genre of row.genres) {
        const g = column.get(genre);
        if (g !== undefined) labels[k * G + g] = 1;
      }
    });
    const prior = training?.prior.length === G ? Float32Array.from(training.prior) : undefined;
    const report = evaluateScores({ scores, labels, rows: n, genres, policy: model.manifest.thresholds, ...(prior ? { trainPrior: prior } : {}) });
    if (options.charts === false) return { ...report, model: model.path, data, split, skipped: rows.length - n };
    const labelsOf = (members: ReadonlyArray<{ id: string }>) => {
      const ids = new Set(members.map((m) => m.id));
      const chosen = dataset.rows.filter((row) => row.image !== null && ids.has(row.id));
      const matrix = new Uint8Array(chosen.length * G);
      chosen.forEach((row, k) => row.genres.forEach((genre) => column.has(genre) && (matrix[k * G + column.get(genre)!] = 1)));
      return genreCounts(matrix, chosen.length, G);
    };
    const charts = evaluationCharts({
      scores, labels, rows: n, genres, policy: model.manifest.thresholds, report,
      ...(prior ? { trainPrior: prior } : {}),
      posters: kept.map(([, row]) => ({ id: row.id, image: row.image! })),
      ...(record && ownData ? { balance: { train: labelsOf(record.train), validation: labelsOf(record.validation), test: labelsOf(record.test) } } : {}),
      ...(model.manifest.history ? { history: model.manifest.history } : {}),
      ...(training ? { bestEpoch: training.bestEpoch } : {}),
    });
    return { ...report, model: model.path, data, split, skipped: rows.length - n, charts };
  } finally {
    await model.release();
  }
}
