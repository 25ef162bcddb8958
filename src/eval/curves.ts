/**
 * What the report's charts draw, as pure functions of (scores, labels,
 * policy): the micro-averaged threshold sweep, per-genre precision-recall
 * curves, genre confusion for multi-label data beside label co-occurrence,
 * calibration bins with the expected calibration error, class counts, the
 * most confident mistakes per genre, and the baselines' per-genre values.
 * `evaluationCharts` gathers them; `evaluate --json` carries the result as
 * `charts`, and `posterscope report` draws nothing it does not hold.
 *
 * Data layout as everywhere in eval/: `scores: Float32Array`, `labels` and
 * `predicted: Uint8Array` (0/1), row-major [rows x genres].
 */
import { checkInteger } from '../errors.js';
import { Random } from '../random.js';
import { type ThresholdPolicy, checkMatrix, decide } from './decide.js';
import { ConfusionCounts, averagePrecision, labelPrior } from './metrics.js';
import type { EvaluationReport } from './report.js';

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
const column = (matrix: ArrayLike<number>, rows: number, genres: number, g: number): number[] =>
  Array.from({ length: rows }, (_, r) => matrix[r * genres + g]!);

/** Every row scored with the per-genre prior: the prior baseline's scores. */
export function priorScores(prior: Float32Array, rows: number): Float32Array {
  const scores = new Float32Array(rows * prior.length);
  for (let r = 0; r < rows; r++) scores.set(prior, r * prior.length);
  return scores;
}

/** Uniform random scores from a seeded generator: the random baseline's scores. */
export function randomScores(rows: number, genres: number, seed: number): Float32Array {
  const scores = new Float32Array(rows * genres);
  const rng = new Random(seed);
  for (let i = 0; i < scores.length; i++) scores[i] = rng.next();
  return scores;
}

export interface SweepPoint {
  threshold: number;
  precision: number;
  recall: number;
  microF1: number;
}

/**
 * Micro precision, recall and F1 when one global threshold decides every
 * genre, at `steps` evenly spaced thresholds strictly between 0 and 1.
 *
 * @example
 *   thresholdSweep(new Float32Array([0.8, 0.2]), new Uint8Array([1, 0]), 1, 2, 3)
 *   // -> [{ threshold: 0.25, precision: 1, recall: 1, microF1: 1 }, { threshold: 0.5, ... }, { threshold: 0.75, ... }]
 */
export function thresholdSweep(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, steps = 99): SweepPoint[] {
  checkInteger('steps', steps, 1, 10_000);
  return Array.from({ length: steps }, (_, i) => {
    const threshold = +((i + 1) / (steps + 1)).toFixed(6);
    const counts = new ConfusionCounts().add(decide(scores, rows, genres, { global: threshold }), labels, rows, genres);
    return { threshold, precision: counts.microPrecision(), recall: counts.microRecall(), microF1: counts.microFBeta(1) };
  });
}

export interface CurvePoint {
  /** Scores >= threshold are called positive (the lowest score of the point's group). */
  threshold: number;
  precision: number;
  recall: number;
}

/**
 * One genre's precision-recall curve as sklearn's `precision_recall_curve`
 * draws it: one point per distinct score, from the highest down (equal
 * scores are one point), starting at (recall 0, precision 1). Empty when the
 * genre has no positives. More than `maxPoints` points are thinned evenly,
 * keeping the first and last.
 *
 * @example
 *   precisionRecallCurve([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
 *   // -> [{ threshold: 1, precision: 1, recall: 0 }, { threshold: 0.9, precision: 1, recall: 0.5 },
 *   //     { threshold: 0.8, precision: 0.5, recall: 0.5 }, { threshold: 0.7, precision: 0.667, recall: 1 }, { threshold: 0.6, precision: 0.5, recall: 1 }]
 */
export function precisionRecallCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 120): CurvePoint[] {
  const n = scores.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i]! ? 1 : 0;
  if (positives === 0) return [];
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points: CurvePoint[] = [{ threshold: 1, precision: 1, recall: 0 }];
  let tp = 0;
  let seen = 0;
  for (let i = 0; i < n; ) {
    const s = scores[order[i]!]!;
    for (; i < n && scores[order[i]!] === s; i++, seen++) tp += labels[order[i]!]! ? 1 : 0;
    points.push({ threshold: s, precision: tp / seen, recall: tp / positives });
  }
  if (points.length <= maxPoints) return points;
  const step = (points.length - 1) / (maxPoints - 1);
  return Array.from({ length: maxPoints }, (_, k) => points[Math.round(k * step)]!);
}

/**
 * Genre confusion for multi-label data, rows normalised by the true genre's
 * support: `rates[t][t]` is the share of genre t's posters on which t was
 * predicted (its recall); `rates[t][g]` (g != t) the share of t's posters on
 * which g was predicted although g is NOT one of their genres (so genuine
 * co-occurrence never counts as confusion). `counts` holds the numerators.
 *
 * @example
 *   // poster 0: true {A, B}, predicted {A, B}; poster 1: true {A}, predicted {B}
 *   genreConfusion(new Uint8Array([1, 1, 0, 1]), new Uint8Array([1, 1, 1, 0]), 2, 2).rates
 *   // -> [[0.5, 0.5], [0, 1]]   (A's posters: A found on one of two, B wrongly on one of two)
 */
export function genreConfusion(predicted: Uint8Array, labels: Uint8Array, rows: number, genres: number): { counts: number[][]; rates: number[][]; support: number[] } {
  checkMatrix('predicted', predicted, rows, genres, 'binary');
  checkMatrix('labels', labels, rows, genres, 'binary');
  const counts = Array.from({ length: genres }, () => new Array<number>(genres).fill(0));
  const support = new Array<number>(genres).fill(0);
  for (let r = 0; r < rows; r++) {
    const at = r * genres;
    for (let t = 0; t < genres; t++) {
      if (!labels[at + t]) continue;
      support[t]!++;
      for (let g = 0; g < genres; g++) {
        if (predicted[at + g] && (g === t || !labels[at + g])) counts[t]![g]!++;
      }
    }
  }
  return { counts, rates: counts.map((row, t) => row.map((c) => ratio(c, support[t]!))), support };
}

/**
 * How often genres are labelled together, rows normalised like
 * `genreConfusion`: `rates[t][g]` = share of genre t's posters that also
 * carry g (the diagonal is 1 for genres with posters).
 *
 * @example
 *   labelCooccurrence(new Uint8Array([1, 1, 1, 0]), 2, 2).rates // -> [[1, 0.5], [1, 1]]
 */
export function labelCooccurrence(labels: Uint8Array, rows: number, genres: number): { counts: number[][]; rates: number[][] } {
  checkMatrix('labels', labels, rows, genres, 'binary');
  const counts = Array.from({ length: genres }, () => new Array<number>(genres).fill(0));
  for (let r = 0; r < rows; r++) {
    const at = r * genres;
    for (let t = 0; t < genres; t++) {
      if (!labels[at + t]) continue;
      for (let g = 0; g < genres; g++) if (labels[at + g]) counts[t]![g]!++;
    }
  }
  return { counts, rates: counts.map((row, t) => row.map((c) => ratio(c, row[t]!))) };
}

export interface CalibrationBin {
  /** The bin holds scores in [lower, upper) (the last one includes 1). */
  lower: number;
  upper: number;
  /** (poster, genre) pairs in the bin. */
  count: number;
  /** Mean predicted probability in the bin (0 when empty). */
  meanScore: number;
  /** Share of the bin's pairs whose genre is true (0 when empty). */
  positiveRate: number;
}

/**
 * Reliability of the probabilities over every (poster, genre) pair, in
 * `bins` equal-width bins; ECE = sum over bins of (count / pairs) x
 * |positiveRate - meanScore|.
 *
 * @example
 *   calibration(new Float32Array([0.1, 0.3, 0.8, 0.9]), new Uint8Array([0, 1, 1, 1]), 2, 2, 2).bins[0]
 *   // -> { lower: 0, upper: 0.5, count: 2, meanScore: 0.2, positiveRate: 0.5 }   (ECE 0.5 x 0.3 + 0.5 x 0.15 = 0.225)
 */
export function calibration(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, bins = 10): { bins: CalibrationBin[]; ece: number } {
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  checkInteger('bins', bins, 1, 1000);
  const count = new Float64Array(bins);
  const sum = new Float64Array(bins);
  const positive = new Float64Array(bins);
  for (let i = 0; i < scores.length; i++) {
    const s = Math.min(1, Math.max(0, scores[i]!));
    const b = Math.min(bins - 1, Math.floor(s * bins));
    count[b]!++;
    sum[b]! += s;
    positive[b]! += labels[i]!;
  }
  const total = scores.length;
  let ece = 0;
  const out = Array.from({ length: bins }, (_, b): CalibrationBin => {
    const meanScore = ratio(sum[b]!, count[b]!);
    const positiveRate = ratio(positive[b]!, count[b]!);
    ece += ratio(count[b]!, total) * Math.abs(positiveRate - meanScore);
    return { lower: +(b / bins).toFixed(6), upper: +((b + 1) / bins).toFixed(6), count: count[b]!, meanScore, positiveRate };
  });
  return { bins: out, ece };
}

/**
 * Posters per genre in a label matrix.
 *
 * @example
 *   genreCounts(new Uint8Array([1, 0, 1, 1]), 2, 2) // -> [2, 1]
 */
export function genreCounts(labels: Uint8Array, rows: number, genres: number): number[] {
  checkMatrix('labels', labels, rows, genres, 'binary');
  const counts = new Array<number>(genres).fill(0);
  for (let i = 0; i < labels.length; i++) counts[i % genres]! += labels[i]!;
  return counts;
}

export interface ConfidentMistake {
  /** Row index into the scores; `id` and `image` when the caller named the rows. */
  row: number;
  id?: string;
  image?: string;
  /** The genre's score on this poster. */
  score: number;
  trueGenres: string[];
  predictedGenres: string[];
}

export interface GenreMistakes {
  genre: string;
  /** The threshold the policy applies to this genre. */
  threshold: number;
  /** Predicted but wrong, highest score first. */
  falsePositives: ConfidentMistake[];
  /** True but missed, lowest score first. */
  falseNegatives: ConfidentMistake[];
}

/**
 * The most confident mistakes per genre under `predicted`: false positives
 * by falling score, false negatives by rising score, `perGenre` of each.
 *
 * @example
 *   confidentMistakes(scores, labels, decide(scores, rows, 2, policy), rows, ['Drama', 'Horror'], [0.32, 0.32], 3)[0]
 *   // -> { genre: 'Drama', threshold: 0.32, falsePositives: [{ row: 7, score: 0.91, trueGenres: ['Horror'], predictedGenres: ['Drama'] }], falseNegatives: [...] }
 */
export function confidentMistakes(
  scores: Float32Array,
  labels: Uint8Array,
  predicted: Uint8Array,
  rows: number,
  names: readonly string[],
  thresholds: ArrayLike<number>,
  perGenre = 3,
  posters?: ReadonlyArray<{ id: string; image?: string }>,
): GenreMistakes[] {
  const genres = names.length;
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  checkMatrix('predicted', predicted, rows, genres, 'binary');
  checkInteger('perGenre', perGenre, 0, 1000);
  const setOf = (matrix: Uint8Array, r: number) => names.filter((_, g) => matrix[r * genres + g]);
  const mistake = (row: number, g: number): ConfidentMistake => ({
    row,
    ...(posters?.[row] ? { id: posters[row].id, ...(posters[row].image ? { image: posters[row].image } : {}) } : {}),
    score: scores[row * genres + g]!,
    trueGenres: setOf(labels, row),
    predictedGenres: setOf(predicted, row),
  });
  return names.map((genre, g) => {
    const fp: number[] = [];
    const fn: number[] = [];
    for (let r = 0; r < rows; r++) {
      const i = r * genres + g;
      if (predicted[i] && !labels[i]) fp.push(r);
      else if (!predicted[i] && labels[i]) fn.push(r);
    }
    const score = (r: number) => scores[r * genres + g]!;
    fp.sort((a, b) => score(b) - score(a) || a - b);
    fn.sort((a, b) => score(a) - score(b) || a - b);
    return {
      genre,
      threshold: thresholds[g]!,
      falsePositives: fp.slice(0, perGenre).map((r) => mistake(r, g)),
      falseNegatives: fn.slice(0, perGenre).map((r) => mistake(r, g)),
    };
  });
}

/** Per-epoch training record, as the bundle keeps it (eval/ knows the shape, not the bundle). */
export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  validationLoss: number;
  validationMicroF1: number;
  validationMAP: number;
}

export interface GenreCurve {
  genre: string;
  ap: number | null;
  /** Share of posters with the genre: a random ranking's precision, and the prior baseline's AP. */
  prevalence: number;
  support: number;
  points: CurvePoint[];
}

export interface EvaluationCharts {
  /** Micro precision / recall / F1 against one global threshold. */
  sweep: SweepPoint[];
  /** The policy's threshold per genre (the global one where no per-genre one is set). */
  policyThresholds: number[];
  curves: GenreCurve[];
  /** Per-genre F1 and AP of the two baselines, beside `perGenre` of the report. */
  genreBaselines: Array<{ genre: string; prior: { f1: number; ap: number | null }; random: { f1: number; ap: number | null } }>;
  confusion: { genres: string[]; support: number[]; predictedInstead: number[][]; cooccurrence: number[][] };
  calibration: { bins: CalibrationBin[]; ece: number; baselines: { prior: number; random: number } };
  /** Genre counts per split (train / validation / test when known, else the evaluated rows). */
  balance: Record<string, number[]>;
  mistakes: GenreMistakes[];
  history: EpochPoint[];
  bestEpoch: number | null;
}

export interface ChartsInput {
  scores: Float32Array;
  labels: Uint8Array;
  rows: number;
  genres: readonly string[];
  policy: ThresholdPolicy;
  /** The report of the same rows (its baselines' thresholds and seed are reused). */
  report: EvaluationReport;
  trainPrior?: Float32Array;
  seed?: number;
  /** Names of the rows, for the mistakes gallery. */
  posters?: ReadonlyArray<{ id: string; image?: string }>;
  /** Genre counts per split; default `{ evaluated: counts of labels }`. */
  balance?: Record<string, number[]>;
  history?: readonly EpochPoint[];
  bestEpoch?: number;
  /** Mistakes shown per genre and kind; default 3. */
  mistakesPerGenre?: number;
}

/**
 * Everything the report draws about one set of posters.
 *
 * @example
 *   const report = evaluateScores(input);
 *   const charts = evaluationCharts({ ...input, report });
 *   charts.calibration.ece // -> 0.041
 */
export function evaluationCharts(input: ChartsInput): EvaluationCharts {
  const { scores, labels, rows, genres: names, policy, report } = input;
  const genres = names.length;
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  const predicted = decide(scores, rows, genres, policy);
  const policyThresholds = names.map((_, g) => {
    const own = policy.perGenre?.[g];
    return typeof own === 'number' && Number.isFinite(own) ? own : policy.global;
  });
  const prevalence = labelPrior(labels, rows, genres);
  const prior = priorScores(input.trainPrior ?? prevalence, rows);
  const random = randomScores(rows, genres, input.seed ?? 0);
  const perGenreOf = (baselineScores: Float32Array, threshold: number) => {
    const counts = new ConfusionCounts().add(decide(baselineScores, rows, genres, { global: threshold }), labels, rows, genres);
    return names.map((_, g) => ({ f1: counts.f1(g), ap: averagePrecision(column(baselineScores, rows, genres, g), column(labels, rows, genres, g)) }));
  };
  const priorGenres = perGenreOf(prior, report.baselines.prior.threshold);
  const randomGenres = perGenreOf(random, report.baselines.random.threshold);
  const confusion = genreConfusion(predicted, labels, rows, genres);
  return {
    sweep: thresholdSweep(scores, labels, rows, genres),
    policyThresholds,
    curves: names.map((genre, g) => ({
      genre,
      ap: report.perGenre[g]?.ap ?? null,
      prevalence: prevalence[g]!,
      support: confusion.support[g]!,
      points: precisionRecallCurve(column(scores, rows, genres, g), column(labels, rows, genres, g)),
    })),
    genreBaselines: names.map((genre, g) => ({ genre, prior: priorGenres[g]!, random: randomGenres[g]! })),
    confusion: { genres: [...names], support: confusion.support, predictedInstead: confusion.rates, cooccurrence: labelCooccurrence(labels, rows, genres).rates },
    calibration: {
      ...calibration(scores, labels, rows, genres),
      baselines: { prior: calibration(prior, labels, rows, genres).ece, random: calibration(random, labels, rows, genres).ece },
    },
    balance: input.balance ?? { evaluated: genreCounts(labels, rows, genres) },
    mistakes: confidentMistakes(scores, labels, predicted, rows, names, policyThresholds, input.mistakesPerGenre ?? 3, input.posters),
    history: (input.history ?? []).map(({ epoch, trainLoss, validationLoss, validationMicroF1, validationMAP }) => ({ epoch, trainLoss, validationLoss, validationMicroF1, validationMAP })),
    bestEpoch: input.bestEpoch ?? null,
  };
}
