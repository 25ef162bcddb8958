/**
 * The evaluation report: everything posterscope says about how good a model
 * is on one set of posters, as a function of (scores, labels, policy) alone,
 * so it can be called on any split, data set or input branch. The policy's
 * decisions (top-level fields), mAP, per-genre rows, the reference systems'
 * fixed-threshold table and two baselines to beat. New report sections go
 * here; the metrics themselves live in eval/metrics.ts.
 */
import { checkInteger, invalidParameterError } from '../errors.js';
import { priorScores, randomScores } from './curves.js';
import { type ThresholdPolicy, checkMatrix, checkUnit, decide } from './decide.js';
import { AveragePrecision, ConfusionCounts, type DecisionMetrics, labelPrior, summarize } from './metrics.js';

export interface GenreMetrics {
  genre: string;
  precision: number;
  recall: number;
  f1: number;
  /** null when the genre has no positives in the labels. */
  ap: number | null;
  support: number;
  predicted: number;
}
export interface BaselineReport extends DecisionMetrics {
  mAP: number;
  threshold: number;
  description: string;
}
export interface EvaluationReport extends DecisionMetrics {
  mAP: number;
  /** Genres without a positive in the labels, left out of mAP. */
  genresWithoutPositives: number;
  perGenre: GenreMetrics[];
  /** The reference systems' table: metrics at fixed thresholds 0.3, 0.5, 0.7 plus the policy's own decisions. */
  thresholds: Array<{ threshold: number | 'policy' } & DecisionMetrics>;
  baselines: { prior: BaselineReport; random: BaselineReport };
  rows: number;
}

export interface EvaluationInput {
  /** [rows x genres] probabilities. */
  scores: Float32Array;
  /** [rows x genres] 0/1 labels. */
  labels: Uint8Array;
  rows: number;
  genres: readonly string[];
  /** The policy whose decisions are reported (the model's own). */
  policy: ThresholdPolicy;
  /** Per-genre positive rate on training data; default: the prior of `labels` itself. */
  trainPrior?: Float32Array;
  /** Seed of the random baseline; default 0. */
  seed?: number;
}

/** The fixed thresholds of the report's table. */
export const REPORT_THRESHOLDS = [0.3, 0.5, 0.7] as const;

const atThreshold = (scores: Float32Array, labels: Uint8Array, rows: number, genres: number, threshold: number) =>
  new ConfusionCounts().add(decide(scores, rows, genres, { global: threshold }), labels, rows, genres);

function baseline(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, threshold: number, description: string): BaselineReport {
  const counts = atThreshold(scores, labels, rows, genres, threshold);
  const { mAP } = new AveragePrecision().add(scores, labels, rows, genres).mean();
  return { ...summarize(counts), mAP, threshold, description };
}

/** Every row scored with the training prior; the global threshold (among the prior values) with the best micro-F1, ties to the higher. */
function priorBaseline(prior: Float32Array, labels: Uint8Array, rows: number, genres: number): BaselineReport {
  const scores = priorScores(prior, rows);
  let best = { threshold: prior[0]!, f1: -1 };
  for (const t of [...new Set(prior)].sort((a, b) => b - a)) {
    const f1 = atThreshold(scores, labels, rows, genres, t).microFBeta(1);
    if (f1 > best.f1) best = { threshold: t, f1 };
  }
  return baseline(scores, labels, rows, genres, best.threshold, `label-frequency prior, best global threshold ${best.threshold.toFixed(3)}`);
}

/**
 * Everything the CLI and the bundle report about one set of posters.
 *
 * @example
 *   const report = evaluateScores({ scores, labels, rows: 600, genres: GENRES, policy: { global: 0.32 } });
 *   report.microF1       // -> 0.612 (the policy's decisions)
 *   report.baselines.prior.description // -> 'label-frequency prior, best global threshold 0.213'
 */
export function evaluateScores(input: EvaluationInput): EvaluationReport {
  const { scores, labels, rows, genres: names, policy } = input;
  checkInteger('rows', rows, 1, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(names) || names.length === 0) throw invalidParameterError('genres', 'a non-empty array of genre names', names);
  const genres = names.length;
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  const seed = checkInteger('seed', input.seed ?? 0, 0, 0xffffffff);
  let prior = input.trainPrior;
  if (prior === undefined) prior = labelPrior(labels, rows, genres);
  else {
    if (!(prior instanceof Float32Array) || prior.length !== genres) {
      throw invalidParameterError('trainPrior', `a Float32Array of ${genres} positive rates`, prior);
    }
    prior.forEach((p, g) => checkUnit(`trainPrior[${g}]`, p));
  }

  const decisions = new ConfusionCounts().add(decide(scores, rows, genres, policy), labels, rows, genres);
  const ap = new AveragePrecision().add(scores, labels, rows, genres);
  const aps = ap.perGenre();
  const { mAP, skipped } = ap.mean();
  const random = randomScores(rows, genres, seed);

  return {
    ...summarize(decisions),
    mAP,
    genresWithoutPositives: skipped,
    perGenre: names.map((genre, g) => ({
      genre,
      precision: decisions.precision(g),
      recall: decisions.recall(g),
      f1: decisions.f1(g),
      ap: aps[g] ?? null,
      support: decisions.support(g),
      predicted: decisions.predicted(g),
    })),
    thresholds: [
      ...REPORT_THRESHOLDS.map((threshold) => ({ threshold, ...summarize(atThreshold(scores, labels, rows, genres, threshold)) })),
      { threshold: 'policy' as const, ...summarize(decisions) },
    ],
    baselines: {
      prior: priorBaseline(prior, labels, rows, genres),
      random: baseline(random, labels, rows, genres, 0.5, `uniform random scores (seed ${seed}), threshold 0.5`),
    },
    rows,
  };
}

/** Left-aligns the first column and right-aligns the others. */
function table(lines: string[][]): string {
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  return lines.map((l) => l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/**
 * Plain-text rendering of a report: the thresholds table with both
 * baselines, then genres by support. No colours.
 *
 * @example
 *   console.log(formatReport(report));
 *   // 200 posters, 4 genres; mAP 0.678 over 3 genres (1 without positives skipped)
 *   //
 *   // decision                exact  precision  recall  micro-F1  macro-F1   F0.5    mAP
 *   // threshold 0.3           0.065      0.273   1.000     0.428     0.352  0.319  0.678
 *   // ...
 *   // policy                  0.195      0.324   0.813     0.463     0.364  0.368  0.678
 *   // prior baseline @0.395   0.270      0.395   0.568     0.466     0.189  0.421  0.232
 *   // random baseline @0.500  0.080      0.175   0.482     0.257     0.219  0.200  0.244
 *   //
 *   // prior baseline: label-frequency prior, best global threshold 0.395
 *   // random baseline: uniform random scores (seed 0), threshold 0.5
 *   //
 *   // genre    support  predicted  precision  recall     F1     AP
 *   // Drama         79        119      0.546   0.823  0.657  0.785
 *   // ...
 *   // Western        0         60      0.000   0.000  0.000      -
 */
export function formatReport(report: EvaluationReport): string {
  const f = (v: number | null): string => (v === null ? '-' : v.toFixed(3));
  const decisionRow = (label: string, m: DecisionMetrics, mAP: number): string[] =>
    [label, f(m.exactMatch), f(m.precision), f(m.recall), f(m.microF1), f(m.macroF1), f(m.f05), f(mAP)];
  const { prior, random } = report.baselines;
  const decisions = table([
    ['decision', 'exact', 'precision', 'recall', 'micro-F1', 'macro-F1', 'F0.5', 'mAP'],
    ...report.thresholds.map((t) => decisionRow(t.threshold === 'policy' ? 'policy' : `threshold ${t.threshold}`, t, report.mAP)),
    decisionRow(`prior baseline @${f(prior.threshold)}`, prior, prior.mAP),
    decisionRow(`random baseline @${f(random.threshold)}`, random, random.mAP),
  ]);
  const genres = table([
    ['genre', 'support', 'predicted', 'precision', 'recall', 'F1', 'AP'],
    ...[...report.perGenre]
      .sort((a, b) => b.support - a.support || a.genre.localeCompare(b.genre))
      .map((g) => [g.genre, String(g.support), String(g.predicted), f(g.precision), f(g.recall), f(g.f1), f(g.ap)]),
  ]);
  const n = report.perGenre.length;
  return [
    `${report.rows} posters, ${n} genres; mAP ${f(report.mAP)} over ${n - report.genresWithoutPositives} genres (${report.genresWithoutPositives} without positives skipped)`,
    '',
    decisions,
    '',
    `prior baseline: ${prior.description}`,
    `random baseline: ${random.description}`,
    '',
    genres,
    '',
  ].join('\n');
}
