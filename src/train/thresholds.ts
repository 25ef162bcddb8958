/**
 * Tuning a threshold policy on validation scores (the policy itself, and the
 * one rule that applies it, are in eval/decide.ts).
 */
import { checkInteger, invalidParameterError } from '../errors.js';
import { type ThresholdPolicy, checkMatrix, checkUnit, decide } from '../eval/decide.js';
import { ConfusionCounts } from '../eval/metrics.js';
import type { TuningRecord } from '../model/bundle.js';
import { TRAIN_DEFAULTS } from './defaults.js';

export interface TuneOptions {
  mode: 'global' | 'per-genre-f1' | 'per-genre-precision';
  /** For per-genre-precision: the precision each genre must reach. */
  targetPrecision?: number;
  /** Genres with fewer validation positives than this keep the global threshold. Default TRAIN_DEFAULTS.minPositives. */
  minPositives?: number;
  /**
   * For the global threshold: the lowest micro precision accepted while
   * maximising micro-F1 (users reject policies that buy F1 with low
   * precision). Default 0. If no candidate reaches it, the candidate with the
   * highest precision is taken.
   */
  minPrecision?: number;
  /** Candidate grid; default 0.01..0.99 step 0.01. */
  grid?: number[];
  topK?: number;
  atLeastOne?: boolean;
}

export type TunedPolicy = ThresholdPolicy & { tuned: TuningRecord };

const MODES = ['global', 'per-genre-f1', 'per-genre-precision'] as const;
const DEFAULT_GRID = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);

/**
 * One genre's true and false positives at every grid threshold, from a
 * histogram of scores over grid cells: O(rows log grid + grid).
 */
function genreCurve(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, g: number, grid: Float32Array) {
  const m = grid.length;
  // cell[b] counts scores with exactly b grid values <= score, i.e. passing grid[0..b-1].
  const pos = new Float64Array(m + 1);
  const neg = new Float64Array(m + 1);
  for (let r = 0; r < rows; r++) {
    const s = scores[r * genres + g]!;
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (grid[mid]! <= s) lo = mid + 1;
      else hi = mid;
    }
    (labels[r * genres + g] ? pos : neg)[lo]!++;
  }
  const tp = new Float64Array(m);
  const fp = new Float64Array(m);
  let tpRun = 0;
  let fpRun = 0;
  for (let i = m - 1; i >= 0; i--) {
    tpRun += pos[i + 1]!;
    fpRun += neg[i + 1]!;
    tp[i] = tpRun;
    fp[i] = fpRun;
  }
  return { tp, fp, positives: pos.reduce((a, v) => a + v, 0) };
}

/** Best global threshold: max micro-F1 among candidates with precision >= minPrecision, else max precision; ties to the higher threshold. */
function tuneGlobal(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, grid: number[], minPrecision: number, extras: Partial<ThresholdPolicy>): number {
  let best: { t: number; f1: number } | undefined;
  let precise = { t: grid[grid.length - 1]!, precision: -1, f1: -1 };
  // Descending, so a strict improvement is needed to move to a lower threshold.
  for (let i = grid.length - 1; i >= 0; i--) {
    const t = grid[i]!;
    const c = new ConfusionCounts().add(decide(scores, rows, genres, { global: t, ...extras }), labels, rows, genres);
    const [precision, f1] = [c.microPrecision(), c.microFBeta(1)];
    if (precision >= minPrecision && (!best || f1 > best.f1)) best = { t, f1 };
    if (precision > precise.precision || (precision === precise.precision && f1 > precise.f1)) precise = { t, precision, f1 };
  }
  return best ? best.t : precise.t;
}

/**
 * Tunes a threshold policy on validation scores.
 * - `global`: the one threshold maximising micro-F1 (with topK/atLeastOne
 *   applied), subject to `minPrecision`.
 * - `per-genre-f1`: global first, then each genre with >= minPositives
 *   positives gets the threshold maximising its own F1 (a genre whose best F1
 *   is 0 keeps global). Rare genres keep global: tuned on a handful of
 *   positives they got absurdly low thresholds and hundreds of false positives.
 * - `per-genre-precision`: global first, then each genre with >= minPositives
 *   positives gets the lowest threshold whose precision reaches
 *   `targetPrecision`; genres that cannot reach it keep global.
 * Per-genre tuning looks at each genre alone (topK/atLeastOne ignored);
 * `validationMicroF1` measures the returned policy as a whole. Ties go to the
 * higher threshold (fewer false positives). Fallback entries are NaN.
 *
 * @example
 *   const policy = tuneThresholds(valScores, valLabels, 600, 25, { mode: 'per-genre-f1' });
 *   // -> { global: 0.31, perGenre: [0.27, NaN, 0.44, ...], tuned: { mode: 'per-genre-f1', validationMicroF1: 0.58, fellBack: 6 } }
 */
export function tuneThresholds(scores: Float32Array, labels: Uint8Array, rows: number, genres: number, options: TuneOptions): TunedPolicy {
  checkMatrix('scores', scores, rows, genres, 'scores');
  checkMatrix('labels', labels, rows, genres, 'binary');
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'a TuneOptions object', options);
  const { mode } = options;
  if (!MODES.includes(mode)) throw invalidParameterError('mode', `one of ${MODES.map((m) => `"${m}"`).join(', ')}`, mode);
  const target = mode === 'per-genre-precision' ? checkUnit('targetPrecision', options.targetPrecision, true) : 0;
  const minPositives = checkInteger('minPositives', options.minPositives ?? TRAIN_DEFAULTS.minPositives, 0, Number.MAX_SAFE_INTEGER);
  const minPrecision = checkUnit('minPrecision', options.minPrecision ?? 0);
  if (options.grid !== undefined && (!Array.isArray(options.grid) || options.grid.length === 0)) {
    throw invalidParameterError('grid', 'a non-empty array of thresholds', options.grid);
  }
  const grid = [...new Set((options.grid ?? DEFAULT_GRID).map((t, i) => checkUnit(`grid[${i}]`, t)))].sort((a, b) => a - b);
  const extras: Partial<ThresholdPolicy> = {};
  if (options.topK !== undefined) extras.topK = checkInteger('topK', options.topK, 1, genres);
  if (options.atLeastOne !== undefined) extras.atLeastOne = options.atLeastOne;

  const policy: ThresholdPolicy = { global: tuneGlobal(scores, labels, rows, genres, grid, minPrecision, extras), ...extras };
  let fellBack = 0;
  if (mode !== 'global') {
    const grid32 = Float32Array.from(grid); // compare in float32, as decide does
    policy.perGenre = Array.from({ length: genres }, (_, g) => {
      const { tp, fp, positives } = genreCurve(scores, labels, rows, genres, g, grid32);
      let pick = -1;
      if (positives >= Math.max(minPositives, 1)) {
        if (mode === 'per-genre-f1') {
          let bestF1 = 0;
          for (let i = grid.length - 1; i >= 0; i--) {
            const f1 = (2 * tp[i]!) / (tp[i]! + fp[i]! + positives);
            if (f1 > bestF1) [bestF1, pick] = [f1, i];
          }
        } else {
          pick = grid.findIndex((_, i) => tp[i]! + fp[i]! > 0 && tp[i]! / (tp[i]! + fp[i]!) >= target);
        }
      }
      if (pick < 0) fellBack++;
      return pick < 0 ? NaN : grid[pick]!;
    });
  }
  const validation = new ConfusionCounts().add(decide(scores, rows, genres, policy), labels, rows, genres);
  return { ...policy, tuned: { mode, validationMicroF1: validation.microFBeta(1), fellBack } };
}
