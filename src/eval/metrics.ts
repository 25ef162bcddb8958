/**
 * Multi-label metrics: two accumulators (confusion counts, average
 * precision) fed batch by batch, the decision metrics read off the counts,
 * and the label-frequency prior. The evaluation report (eval/report.ts)
 * lists these; it computes nothing of its own.
 *
 * Data layout: `scores: Float32Array` and `labels`/`predicted: Uint8Array`
 * (0/1), row-major [rows x genres].
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
import { invalidParameterError } from '../errors.js';
import { checkMatrix } from './decide.js';

/** Threshold-dependent metrics; precision and recall are micro-averaged. */
export interface DecisionMetrics {
  exactMatch: number;
  precision: number;
  recall: number;
  microF1: number;
  macroF1: number;
  f05: number;
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
const fBeta = (beta: number, tp: number, fp: number, fn: number): number =>
  ratio((1 + beta * beta) * tp, (1 + beta * beta) * tp + beta * beta * fn + fp);

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
    for (; i < n && scores[order[i]!] === s; i++, seen++) tp += labels[order[i]!]! ? 1 : 0;
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

/** The decision metrics, each named and derived from the counts: the report lists them, nothing else defines them. */
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
 * Per-genre positive rate of a label matrix: the label-frequency prior (the
 * head starts from it, and it is the baseline every model must beat).
 *
 * @example
 *   labelPrior(new Uint8Array([1, 0, 1, 1]), 2, 2) // -> Float32Array [1, 0.5]
 */
export function labelPrior(labels: Uint8Array, rows: number, genres: number): Float32Array {
  checkMatrix('labels', labels, rows, genres, 'binary');
  const positives = new Float64Array(genres);
  for (let i = 0; i < labels.length; i++) positives[i % genres]! += labels[i]!;
  return Float32Array.from(positives, (p) => (rows > 0 ? p / rows : 0));
}
