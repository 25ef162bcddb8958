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
import { type BaselineReport, type EvaluationReport, evaluateScores } from '../eval/report.js';
import { type EvaluationCharts, evaluationCharts, genreCounts } from '../eval/curves.js';
import type { ModelInput } from './inputs.js';
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

/** The modality table's rows: which inputs each uses (those the model reads). */
export const MODALITIES = {
  image: ['image'],
  title: ['title'],
  plot: ['plot'],
  text: ['title', 'plot'],
  imageTitle: ['image', 'title'],
  all: ['image', 'title', 'plot'],
} as const satisfies Record<string, readonly ModelInput[]>;
export type Modality = keyof typeof MODALITIES;

export const MODALITY_NAMES = {
  image: 'image only',
  title: 'title only',
  plot: 'plot only',
  text: 'title + plot',
  imageTitle: 'image + title',
  all: 'all inputs',
} as const satisfies Record<Modality, string>;

export interface ModelEvaluation extends EvaluationReport {
  model: string;
  data: string;
  split: 'test' | 'validation' | 'all';
  /** Rows skipped because their image was missing or unreadable. */
  skipped: number;
  /**
   * The model on the same rows with only some of its inputs (a row without
   * any of them gets the prior), for the modalities whose inputs it reads.
   */
  modalities: Partial<Record<Modality, EvaluationReport>>;
  /** The same, on the rows that have a plot (when the model reads plots). */
  modalitiesWithPlot?: { rows: number; reports: Partial<Record<Modality, EvaluationReport>> };
  /** Curves, confusion, calibration, class balance, mistakes and training history (see eval/curves.ts). */
  charts?: EvaluationCharts;
}

/**
 * @example
 *   const report = await evaluate({ model: 'my-model' });
 *   [report.microF1, report.baselines.prior.microF1] // -> [0.60, 0.41]
 *   report.modalities.image.microF1                   // -> 0.53 (the same rows, poster only)
 */
export async function evaluate(options: EvaluateOptions = {}): Promise<ModelEvaluation> {
  const model = await loadModel(options.model, options);
  try {
    const { training } = model.manifest;
    const data = options.data ?? training?.data;
    const withImage = model.accepts.includes('image');
    const images = options.images?.length ? options.images : options.data ? [] : (training?.images ?? []);
    if (!data || (withImage && !images.length && !options.data)) {
      throw new PosterscopeError('INVALID_ARGUMENT', 'Expected --data FILE and --images DIR (the bundle does not record its training data) for data but received nothing');
    }
    const ownData = training !== undefined && resolve(training.data) === resolve(data);
    const split = options.split ?? (ownData ? 'test' : 'all');
    const { model: _model, split: _split, views: _views, progress: _progress, log: _log, charts: _charts, ...datasetOptions } = options;
    // The bundle's own data is read with the text it was trained with.
    const recorded = ownData && training
      ? {
          ...(typeof training.metadata === 'string' && options.metadata === undefined ? { metadata: training.metadata } : {}),
          ...(training.titleColumn !== undefined && options.titleColumn === undefined ? { titleColumn: training.titleColumn as string | number } : {}),
          ...(training.plotColumn !== undefined && options.plotColumn === undefined ? { plotColumn: training.plotColumn as string | number } : {}),
        }
      : {};
    const dataset = await readDataset({ ...datasetOptions, ...recorded, data, images });
    const readsText = (row: (typeof dataset.rows)[number]) => (model.accepts.includes('title') && !!row.title) || (model.accepts.includes('plot') && !!row.plot);
    let rows = dataset.rows.filter((row) => (withImage ? row.image !== null : readsText(row)));
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
    const logits = await model.logits(
      rows.map((r) => ({ ...(r.image ? { image: r.image } : {}), ...(r.title ? { title: r.title } : {}), ...(r.plot ? { plot: r.plot } : {}) })),
      {
        ...(options.views ? { views: options.views } : {}),
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
      },
    );
    // A row is dropped only when its poster could not be read; text that says nothing leaves the row to its other inputs.
    const kept = logits.map((l, i) => [l, rows[i]!] as const).filter(([l]) => !l.error || (!withImage && l.error.code === 'INVALID_ARGUMENT'));
    const G = genres.length;
    const prior = training?.prior.length === G ? Float32Array.from(training.prior) : undefined;
    const priorScores = model.manifest.fusion ? Float32Array.from(model.manifest.fusion.center, (c) => 1 / (1 + Math.exp(-c))) : (prior ?? new Float32Array(G));
    const labelsOf = (set: typeof kept) => {
      const labels = new Uint8Array(set.length * G);
      set.forEach(([, row], k) => {
        for (const genre of row.genres) {
          const g = column.get(genre);
          if (g !== undefined) labels[k * G + g] = 1;
        }
      });
      return labels;
    };
    const scoresOf = (set: typeof kept, use: readonly ModelInput[]) => {
      const scores = new Float32Array(set.length * G);
      set.forEach(([l], k) => {
        const present = use.filter((input) => l.logits[input] !== undefined);
        scores.set(present.length > 0 ? model.fuse(l.logits, present, l.features) : priorScores, k * G);
      });
      return scores;
    };
    const reportOf = (set: typeof kept, use: readonly ModelInput[], scores = scoresOf(set, use), labels = labelsOf(set)) =>
      evaluateScores({ scores, labels, rows: set.length, genres, policy: model.manifest.thresholds, ...(prior ? { trainPrior: prior } : {}) });
    const scores = scoresOf(kept, model.accepts);
    const labels = labelsOf(kept);
    const report = reportOf(kept, model.accepts, scores, labels);
    const modalitiesOf = (set: typeof kept) => {
      const out: Partial<Record<Modality, EvaluationReport>> = {};
      for (const [name, use] of Object.entries(MODALITIES) as Array<[Modality, readonly ModelInput[]]>) {
        const usable = use.filter((u) => model.accepts.includes(u));
        // A modality the model cannot tell apart from a smaller one (all = image for an image model) is left out.
        if (usable.length !== use.length && name !== 'all') continue;
        if (name === 'all' && model.accepts.length < 2) continue;
        out[name] = reportOf(set, usable);
      }
      return out;
    };
    const modalities = modalitiesOf(kept);
    const withPlot = kept.filter(([, row]) => !!row.plot);
    const evaluation: ModelEvaluation = {
      ...report,
      model: model.path,
      data,
      split,
      skipped: rows.length - kept.length,
      modalities,
      ...(model.accepts.includes('plot') && withPlot.length > 0 ? { modalitiesWithPlot: { rows: withPlot.length, reports: modalitiesOf(withPlot) } } : {}),
    };
    if (options.charts === false) return evaluation;
    const countsOf = (members: ReadonlyArray<{ id: string }>) => {
      const ids = new Set(members.map((m) => m.id));
      const chosen = dataset.rows.filter((row) => ids.has(row.id));
      const matrix = new Uint8Array(chosen.length * G);
      chosen.forEach((row, k) => row.genres.forEach((genre) => column.has(genre) && (matrix[k * G + column.get(genre)!] = 1)));
      return genreCounts(matrix, chosen.length, G);
    };
    const charts = evaluationCharts({
      scores, labels, rows: kept.length, genres, policy: model.manifest.thresholds, report,
      ...(prior ? { trainPrior: prior } : {}),
      posters: kept.map(([, row]) => ({ id: row.id, ...(row.image ? { image: row.image } : {}) })),
      ...(record && ownData ? { balance: { train: countsOf(record.train), validation: countsOf(record.validation), test: countsOf(record.test) } } : {}),
      ...(model.manifest.history ? { history: model.manifest.history } : {}),
      ...(training ? { bestEpoch: training.bestEpoch } : {}),
    });
    return { ...evaluation, charts };
  } finally {
    await model.release();
  }
}

/**
 * The modality table as text: one row per set of inputs, the prior baseline last.
 *
 * @example
 *   formatModalities(report.modalities, report.baselines.prior)
 *   // -> 'inputs          micro-F1  precision  recall  macro-F1    mAP\n' +
 *   //    'image only         0.535      0.509   0.563     0.265  0.306\n' + ...
 */
export function formatModalities(reports: Partial<Record<Modality, EvaluationReport>>, prior: BaselineReport): string {
  const f = (v: number) => v.toFixed(3);
  const rows = [
    ['inputs', 'micro-F1', 'precision', 'recall', 'macro-F1', 'mAP'],
    ...(Object.entries(reports) as Array<[Modality, EvaluationReport]>).map(([name, r]) => [MODALITY_NAMES[name], f(r.microF1), f(r.precision), f(r.recall), f(r.macroF1), f(r.mAP)]),
    ['prior baseline', f(prior.microF1), f(prior.precision), f(prior.recall), f(prior.macroF1), f(prior.mAP)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}
