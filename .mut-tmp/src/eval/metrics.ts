/**
 * Multi-label evaluation: small metric objects (reset / accumulate / value /
 * name) over two accumulators, and the report the CLI and bundle show.
 *
 * Data layout: `scores: Float32Array` and `labels`/`predicted: Uint8Array`
 * (0/1), row-major [rows x genres]. A score passes a threshold when
 * `score >= threshold`, comparing in float32 (`Math.fround(threshold)`) so a
 * score stored as 0.3 passes the threshold 0.3.
 *
 * Conventions (sklearn's `zero_division=0` where it has one):
 * - precision of a genre (or micro) with no predicted positives = 0;
 *   recall with no true positives in the labels = 0; F-beta with P = R = 0 is 0.
 * - micro-F1 = 2TP / (2TP + FP + FN) over all genres; micro F-beta likewise;
 *   F0.5 = micro F-beta with beta 0.5 (weighs precision more).
 * - macro-F1 = mean of per-genre F1 over genres that appear in the labels OR
 *   in the predictions (support > 0 or predicted > 0). A genre absent from both
 *   is neither right nor wrong and is left out (sklearn would count it as 0
 *   and drag the mean down). 0 when no genre qualifies.
 * - exact match = fraction of rows whose predicted set equals the true set
 *   (two empty sets match); 0 for no rows.
 * - AP per genre = sklearn's `average_precision_score`: sum over distinct
 *   score thresholds, descending, of (R_n - R_{n-1}) * P_n; equal scores form
 *   one threshold. `null` for a genre without positives, and mAP is the mean
 *   over the other genres (how many were skipped is reported).
 */
import { checkInteger, invalidParameterError } from '../errors.js';

/** A metric object: feed it batches, read one number. */
export interface Metric {
  readonly name: string;
  reset(): void;
  accumulate(scores: Float32Array, labels: Uint8Array, rows: number, genres: number): void;
  value(): number;
}

/** How scores become decisions: one global threshold, one per genre, or a function (e.g. a `ThresholdPolicy`). */
export type Decision = number | Float32Array | ((scores: Float32Array, rows: number, genres: number) => Uint8Array);

/** Threshold-dependent metrics; precision and recall are micro-averaged. */
export interface DecisionMetrics {
  exactMatch: number;
  precision: number;
  recall: number;
  microF1: number;
  macroF1: number;
  f05: number;
}
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

/** The fixed thresholds of the report's table. */
export const REPORT_THRESHOLDS = [0.3, 0.5, 0.7] as const;

/**
 * Throws `invalidParameterError` unless `data` is a [rows x genres] matrix of
 * the right type: finite scores (NaN would break ranking) or 0/1 labels.
 * Internal: shared with the threshold tuner.
 */
export function checkMatrix(name: string, data: unknown, rows: number, genres: number, kind: 'scores' | 'binary'): void {
  checkInteger('rows', rows, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('genres', genres, 1, Number.MAX_SAFE_INTEGER);
  const type = kind === 'scores' ? Float32Array : Uint8Array;
  if (!(data instanceof type)) throw invalidParameterError(name, type.name, data);
  const array = data as Float32Array | Uint8Array;
  if (array.length !== rows * genres) {
    throw invalidParameterError(`${name}.length`, `${rows * genres} (${rows} rows x ${genres} genres)`, array.length);
  }
  for (let i = 0; i < array.length; i++) {
    const v = array[i]!;
    if (kind === 'scores' ? !Number.isFinite(v) : v > 1) {
      throw invalidParameterError(`${name}[${i}]`, kind === 'scores' ? 'a finite number' : '0 or 1', v);
    }
  }
}

function checkThreshold(name: string, t: unknown): number {
  if (typeof t !== 'number' || !(t >= 0 && t <= 1)) throw invalidParameterError(name, 'number between 0 and 1', t);
  return t;
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
const fBeta = (beta: number, tp: number, fp: number, fn: number): number =>
  ratio((1 + beta * beta) * tp, (1 + beta * beta) * tp + beta * beta * fn + fp);

/**
 * Turns scores into 0/1 decisions with one global threshold or one per genre.
 *
 * @example
 *   decide(new Float32Array([0.4, 0.6, 0.2, 0.9]), 2, 2, new Float32Array([0.3, 0.95]))
 *   // -> Uint8Array [1, 0, 0, 0]
 */
export function decide(scores: Float32Array, rows: number, genres: number, threshold: number | Float32Array): Uint8Array {
  checkMatrix('scores', scores, rows, genres, 'scores');
  const perGenre = new Float32Array(genres);
  if (typeof threshold === 'number') perGenre.fill(checkThreshold('threshold', threshold));
  else {
    if (!(threshold instanceof Float32Array) || threshold.length !== genres) {
      throw invalidParameterError('threshold', `a number or a Float32Array of ${genres} thresholds`, threshold);
    }
    threshold.forEach((t, g) => checkThreshold(`threshold[${g}]`, t));
    perGenre.set(threshold);
  }
  const out = new Uint8Array(rows * genres);
  for (let i = 0; i < out.length; i++) out[i] = scores[i]! >= perGenre[i % genres]! ? 1 : 0;
  return out;
}

function toDecisions(decision: Decision, scores: Float32Array, rows: number, genres: number): Uint8Array {
  return typeof decision === 'function' ? decision(scores, rows, genres) : decide(scores, rows, genres, decision);
}

/**
 * Per-genre confusion counts (and exact-match rows) over any number of batches;
 * every decision metric is derived from them.
 *
 * @example
 *   const c = new ConfusionCounts().add(new Uint8Array([1, 1, 0, 1]), new Uint8Array([1, 0, 0, 1]), 2, 2);
 *   [c.microPrecision(), c.microRecall(), c.exactMatch()] // -> [0.6667, 1, 0.5] (rounded)
 */
export class ConfusionCounts {
  tp = new Float64Array(0);
  fp = new Float64Array(0);
  fn = new Float64Array(0);
  tn = new Float64Array(0);
  rows = 0;
  /** Rows whose predicted set equals the true set. */
  exactRows = 0;

  reset(): this {
    for (const a of [this.tp, this.fp, this.fn, this.tn]) a.fill(0);
    this.rows = this.exactRows = 0;
    return this;
  }

  add(predicted: Uint8Array, labels: Uint8Array, rows: number, genres: number): this {
    checkMatrix('predicted', predicted, rows, genres, 'binary');
    checkMatrix('labels', labels, rows, genres, 'binary');
    if (this.rows === 0 && this.tp.length !== genres) {
      const zeros = () => new Float64Array(genres);
      [this.tp, this.fp, this.fn, this.tn] = [zeros(), zeros(), zeros(), zeros()];
    }
    if (this.tp.length !== genres) throw invalidParameterError('genres', `${this.tp.length} as in earlier batches`, genres);
    for (let r = 0; r < rows; r++) {
      let exact = true;
      for (let g = 0; g < genres; g++) {
        const p = predicted[r * genres + g]!;
        const l = labels[r * genres + g]!;
        if (p !== l) exact = false;
        (p ? (l ? this.tp : this.fp) : l ? this.fn : this.tn)[g]!++;
      }
      if (exact) this.exactRows++;
    }
    this.rows += rows;
    return this;
  }

  get genres(): number {
    return this.tp.length;
  }
  support(g: number): number {
    return this.tp[g]! + this.fn[g]!;
  }
  predicted(g: number): number {
    return this.tp[g]! + this.fp[g]!;
  }
  precision(g: number): number {
    return ratio(this.tp[g]!, this.predicted(g));
  }
  recall(g: number): number {
    return ratio(this.tp[g]!, this.support(g));
  }
  f1(g: number): number {
    return fBeta(1, this.tp[g]!, this.fp[g]!, this.fn[g]!);
  }
  private total(a: Float64Array): number {
    return a.reduce((s, v) => s + v, 0);
  }
  microPrecision(): number {
    return ratio(this.total(this.tp), this.total(this.tp) + this.total(this.fp));
  }
  microRecall(): number {
    return ratio(this.total(this.tp), this.total(this.tp) + this.total(this.fn));
  }
  microFBeta(beta: number): number {
    return fBeta(beta, this.total(this.tp), this.total(this.fp), this.total(this.fn));
  }
  /** Mean F1 over genres present in the labels or the predictions. */
  macroF1(): number {
    let sum = 0;
    let counted = 0;
    for (let g = 0; g < this.genres; g++) {
      if (this.support(g) === 0 && this.predicted(g) === 0) continue;
      sum += this.f1(g);
      counted++;
    }
    return ratio(sum, counted);
  }
  exactMatch(): number {
    return ratio(this.exactRows, this.rows);
  }
}

/**
 * Average precision of one genre's column, the way sklearn's
 * `average_precision_score` computes it (equal scores are one threshold).
 *
 * @example
 *   averagePrecision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) // -> 0.8333 (= (1 + 2/3) / 2)
 *   averagePrecision([0.5, 0.5], [0, 0])                  // -> null (no positives)
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = scores.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i]! ? 1 : 0;
  if (positives === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0;
  let seen = 0;
  let ap = 0;
  let previousRecall = 0;
  for (let i = 0; i < n; ) {
    const s = scores[order[i]!]!;
    for (; i < n && scores[order[i]!] === s && seen < -1; i++, seen++) tp += labels[order[i]!]! ? 1 : 0;
    const recall = tp / positives;
    ap += (recall - previousRecall) * (tp / seen);
    previousRecall = recall;
  }
  return ap;
}

/**
 * Keeps every score per genre (ranking needs them all) and gives AP per genre
 * and mAP over genres with positives.
 *
 * @example
 *   new AveragePrecision().add(new Float32Array([0.9, 0.1, 0.2, 0.8]), new Uint8Array([1, 0, 0, 0]), 2, 2).mean()
 *   // -> { mAP: 1, skipped: 1 }
 */
export class AveragePrecision {
  private scores: number[][] = [];
  private labels: number[][] = [];

  reset(): this {
    this.scores = [];
    this.labels = [];
    return this;
  }

  add(scores: Float32Array, labels: Uint8Array, rows: number, genres: number): this {
    checkMatrix('scores', scores, rows, genres, 'scores');
    checkMatrix('labels', labels, rows, genres, 'binary');
    if (this.scores.length === 0) {
      this.scores = Array.from({ length: genres }, () => []);
      this.labels = Array.from({ length: genres }, () => []);
    }
    if (this.scores.length !== genres) throw invalidParameterError('genres', `${this.scores.length} as in earlier batches`, genres);
    for (let i = 0; i < rows * genres; i++) {
      this.scores[i % genres]!.push(scores[i]!);
      this.labels[i % genres]!.push(labels[i]!);
    }
    return this;
  }

  perGenre(): Array<number | null> {
    return this.scores.map((s, g) => averagePrecision(s, this.labels[g]!));
  }

  /** mAP over genres with at least one positive (0 if none has); `skipped` counts the others. */
  mean(): { mAP: number; skipped: number } {
    const aps = this.perGenre();
    const present = aps.filter((ap): ap is number => ap !== null);
    return { mAP: ratio(present.reduce((s, v) => s + v, 0), present.length), skipped: aps.length - present.length };
  }
}

/** How each report field derives from the counts: the one list both the metric objects and the report use. */
const DECISION_METRICS: { [K in keyof DecisionMetrics]: (c: ConfusionCounts) => number } = {
  exactMatch: (c) => c.exactMatch(),
  precision: (c) => c.microPrecision(),
  recall: (c) => c.microRecall(),
  microF1: (c) => c.microFBeta(1),
  macroF1: (c) => c.macroF1(),
  f05: (c) => c.microFBeta(0.5),
};

/**
 * Every decision metric read off one set of counts.
 *
 * @example
 *   summarize(new ConfusionCounts().add(new Uint8Array([1, 0]), new Uint8Array([1, 0]), 1, 2))
 *   // -> { exactMatch: 1, precision: 1, recall: 1, microF1: 1, macroF1: 1, f05: 1 }
 */
export function summarize(counts: ConfusionCounts): DecisionMetrics {
  const out = {} as DecisionMetrics;
  for (const key of Object.keys(DECISION_METRICS) as Array<keyof DecisionMetrics>) out[key] = DECISION_METRICS[key](counts);
  return out;
}

/**
 * A decision metric object (`'microF1'`, `'f05'`, ...) deciding with `decision` (default threshold 0.5).
 *
 * @example
 *   const m = decisionMetric('microF1', 0.5);
 *   m.accumulate(new Float32Array([0.9, 0.2, 0.6, 0.7]), new Uint8Array([1, 0, 0, 1]), 2, 2);
 *   [m.name, m.value()] // -> ['microF1', 0.8]
 */
export function decisionMetric(name: keyof DecisionMetrics, decision: Decision = 0.5): Metric {
  const derive = DECISION_METRICS[name];
  if (!derive) throw invalidParameterError('name', `one of ${Object.keys(DECISION_METRICS).join(', ')}`, name);
  const counts = new ConfusionCounts();
  return {
    name,
    reset: () => void counts.reset(),
    accumulate: (scores, labels, rows, genres) => void counts.add(toDecisions(decision, scores, rows, genres), labels, rows, genres),
    value: () => derive(counts),
  };
}

/**
 * The mAP metric object; `skipped()` tells how many genres had no positives.
 *
 * @example
 *   const m = meanAveragePrecision();
 *   m.accumulate(new Float32Array([0.9, 0.8, 0.7, 0.6]), new Uint8Array([1, 0, 1, 0]), 4, 1);
 *   m.value() // -> 0.8333
 */
export function meanAveragePrecision(): Metric & { skipped(): number } {
  const ap = new AveragePrecision();
  return {
    name: 'mAP',
    reset: () => void ap.reset(),
    accumulate: (scores, labels, rows, genres) => void ap.add(scores, labels, rows, genres),
    value: () => ap.mean().mAP,
    skipped: () => ap.mean().skipped,
  };
}

/** mulberry32: a tiny seeded PRNG so the random baseline is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function baseline(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, threshold: number, description: string): BaselineReport {
  const counts = new ConfusionCounts().add(decide(scores, rows, genres, threshold), labels, rows, genres);
  const { mAP } = new AveragePrecision().add(scores, labels, rows, genres).mean();
  return { ...summarize(counts), mAP, threshold, description };
}

/** Every row scored with the training prior; the global threshold (among the prior values) with the best micro-F1, ties to the higher. */
function priorBaseline(prior: Float32Array, labels: Uint8Array, rows: number, genres: number): BaselineReport {
  const scores = new Float32Array(rows * genres);
  for (let r = 0; r < rows; r++) scores.set(prior, r * genres);
  let best = { threshold: prior[0]!, f1: -1 };
  for (const t of [...new Set(prior)].sort((a, b) => b - a)) {
    const f1 = new ConfusionCounts().add(decide(scores, rows, genres, t), labels, rows, genres).microFBeta(1);
    if (f1 > best.f1) best = { threshold: t, f1 };
  }
  return baseline(scores, labels, rows, genres, best.threshold, `label-frequency prior, best global threshold ${best.threshold.toFixed(3)}`);
}

/**
 * Everything the CLI and the bundle report about one split: the policy's
 * decisions (top-level fields), mAP, per-genre metrics, the fixed-threshold
 * table and two baselines to beat.
 *
 * @example
 *   const report = evaluate({ scores, labels, rows: 600, genres: GENRES, predicted: applyPolicy(scores, 600, 25, policy) });
 *   report.microF1       // -> 0.612 (the policy's decisions)
 *   report.baselines.prior.description // -> 'label-frequency prior, best global threshold 0.213'
 */
export function evaluate(input: {
  scores: Float32Array;
  labels: Uint8Array;
  rows: number;
  genres: string[];
  /** The policy's decisions. */
  predicted: Uint8Array;
  /** Per-genre positive rate on training data; default: the prior of `labels` itself. */
  trainPrior?: Float32Array;
  /** Seed of the random baseline; default 0. */
  seed?: number;
}): EvaluationReport {
  const { scores, labels, rows, genres: names, predicted } = input;
  checkInteger('rows', rows, 1, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(names) || names.length === 0) throw invalidParameterError('genres', 'a non-empty array of genre names', names);
  const genres = names.length;
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  checkMatrix('predicted', predicted, rows, genres, 'binary');
  const seed = checkInteger('seed', input.seed ?? 0, 0, 0xffffffff);
  let prior = input.trainPrior;
  if (prior === undefined) {
    const positives = new Float64Array(genres);
    for (let i = 0; i < labels.length; i++) positives[i % genres]! += labels[i]!;
    prior = Float32Array.from(positives, (p) => p / rows);
  } else {
    if (!(prior instanceof Float32Array) || prior.length !== genres) {
      throw invalidParameterError('trainPrior', `a Float32Array of ${genres} positive rates`, prior);
    }
    // A prior summed in float32 can land an ulp above 1; accept and clamp that.
    prior.forEach((p, g) => {
      if (!(p >= 0 && p <= 1 + 1e-6)) throw invalidParameterError(`trainPrior[${g}]`, 'number between 0 and 1', p);
    });
    prior = prior.map((p) => Math.min(p, 1));
  }

  const policy = new ConfusionCounts().add(predicted, labels, rows, genres);
  const ap = new AveragePrecision().add(scores, labels, rows, genres);
  const aps = ap.perGenre();
  const { mAP, skipped } = ap.mean();
  const random = new Float32Array(rows * genres);
  const next = mulberry32(seed);
  for (let i = 0; i < random.length; i++) random[i] = next();

  return {
    ...summarize(policy),
    mAP,
    genresWithoutPositives: skipped,
    perGenre: names.map((genre, g) => ({
      genre,
      precision: policy.precision(g),
      recall: policy.recall(g),
      f1: policy.f1(g),
      ap: aps[g] ?? null,
      support: policy.support(g),
      predicted: policy.predicted(g),
    })),
    thresholds: [
      ...REPORT_THRESHOLDS.map((threshold) => ({
        threshold,
        ...summarize(new ConfusionCounts().add(decide(scores, rows, genres, threshold), labels, rows, genres)),
      })),
      { threshold: 'policy' as const, ...summarize(policy) },
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
