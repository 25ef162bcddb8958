/**
 * Per-branch calibration of a sum fusion: one weight per head, chosen on the
 * validation split so that every subset of inputs (poster only, title only,
 * poster + title + plot, ...) gives calibrated probabilities; the threshold
 * policy is then tuned on the same pooled subsets, so one policy serves them all.
 */
import { type ThresholdPolicy, decide } from '../eval/decide.js';
import { ConfusionCounts } from '../eval/metrics.js';
import type { Fusion, FusionRecord } from '../model/bundle.js';
import { type BranchLogits, fuseScores } from '../model/fusion.js';
import { MODEL_INPUTS, type ModelInput } from '../model/inputs.js';

/**
 * Every non-empty subset of `inputs`, in a fixed order (singles first, the whole set last).
 *
 * @example
 *   inputSubsets(['image', 'title']) // -> [['image'], ['title'], ['image', 'title']]
 */
export function inputSubsets(inputs: readonly ModelInput[]): ModelInput[][] {
  const ordered = MODEL_INPUTS.filter((i) => inputs.includes(i));
  const all: ModelInput[][] = [];
  for (let mask = 1; mask < 1 << ordered.length; mask++) all.push(ordered.filter((_, k) => mask & (1 << k)));
  return all.sort((a, b) => a.length - b.length);
}

export interface PooledSubsets {
  /** Fused probabilities [samples x genres], one sample per (row, subset of the inputs it has). */
  scores: Float32Array;
  labels: Uint8Array;
  samples: number;
}

/** Each row once per subset in `subsets` whose inputs it all has. */
export function poolSubsets(fusion: Fusion, logits: readonly BranchLogits[], labels: Uint8Array, genres: number, subsets: readonly ModelInput[][], features?: readonly BranchLogits[]): PooledSubsets {
  const scores: Float32Array[] = [];
  const ys: Uint8Array[] = [];
  logits.forEach((row, r) => {
    for (const subset of subsets) {
      if (!subset.every((input) => row[input] !== undefined)) continue;
      scores.push(fuseScores(fusion, row, 1, subset, features?.[r]));
      ys.push(labels.subarray(r * genres, (r + 1) * genres));
    }
  });
  const out = { scores: new Float32Array(scores.length * genres), labels: new Uint8Array(scores.length * genres), samples: scores.length };
  scores.forEach((s, k) => {
    out.scores.set(s, k * genres);
    out.labels.set(ys[k]!, k * genres);
  });
  return out;
}

function meanLoss(pooled: PooledSubsets): number {
  let loss = 0;
  const { scores, labels } = pooled;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(Math.max(scores[i]!, 1e-7), 1 - 1e-7);
    loss -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return loss / Math.max(1, pooled.samples);
}

const GRID = Array.from({ length: 41 }, (_, i) => i * 0.05);

/**
 * Head weights minimising the validation loss pooled over `subsets`
 * (coordinate descent over a grid 0..2 in steps of 0.05, from all ones),
 * then for each subset of two or more inputs its own weights, minimising
 * the loss of that subset alone on the rows that have it.
 *
 * @example
 *   tuneFusionWeights(center, validationLogits, labels, 25, inputSubsets(['image', 'title', 'plot']))
 *   // -> { type: 'sum', center: [...], weights: { image: 0.9, title: 0.65, plot: 0.8 } }
 */
export function tuneFusionWeights(center: Float32Array, logits: readonly BranchLogits[], labels: Uint8Array, genres: number, subsets: readonly ModelInput[][]): FusionRecord {
  const inputs = MODEL_INPUTS.filter((i) => subsets.some((s) => s.includes(i)));
  const fusion: FusionRecord = { type: 'sum', center: Array.from(center, (v) => +v.toFixed(6)), weights: Object.fromEntries(inputs.map((i) => [i, 1])) };
  let best = meanLoss(poolSubsets(fusion, logits, labels, genres, subsets));
  for (let pass = 0; pass < 3; pass++) {
    let changed = false;
    for (const input of inputs) {
      for (const w of GRID) {
        const trial: FusionRecord = { ...fusion, weights: { ...fusion.weights, [input]: w } };
        const loss = meanLoss(poolSubsets(trial, logits, labels, genres, subsets));
        if (loss < best - 1e-9) {
          best = loss;
          fusion.weights = trial.weights;
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  // Then each subset of two or more inputs on its own, from the shared weights.
  const subsetWeights: NonNullable<FusionRecord['subsets']> = [];
  for (const subset of subsets) {
    if (subset.length < 2) continue;
    let weights = { ...fusion.weights };
    const only = [subset];
    let best = meanLoss(poolSubsets({ ...fusion, subsets: [{ inputs: subset, weights }] }, logits, labels, genres, only));
    for (let pass = 0; pass < 3; pass++) {
      let changed = false;
      for (const input of subset) {
        for (const w of GRID) {
          const trial = { ...weights, [input]: w };
          const loss = meanLoss(poolSubsets({ ...fusion, subsets: [{ inputs: subset, weights: trial }] }, logits, labels, genres, only));
          if (loss < best - 1e-9) {
            best = loss;
            weights = trial;
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
    subsetWeights.push({ inputs: subset, weights: Object.fromEntries(subset.map((i) => [i, +weights[i]!.toFixed(2)])) });
  }
  return subsetWeights.length > 0 ? { ...fusion, subsets: subsetWeights } : fusion;
}

const SHIFTS = Array.from({ length: 25 }, (_, i) => +(-0.6 + i * 0.05).toFixed(2));

/**
 * A logit shift per subset of inputs, chosen on validation for micro-F1 at
 * the policy's threshold: the policy is one for the bundle, and a subset
 * whose fused scores run hotter or colder than the pooled ones is moved to it.
 *
 * @example
 *   tuneSubsetShifts(fusion, validationLogits, labels, 25, subsets, { global: 0.31 }).subsets
 *   // -> [{ inputs: ['image'], weights: { image: 0.9 }, shift: 0 }, ..., { inputs: ['image', 'title', 'plot'], weights: {...}, shift: -0.2 }]
 */
export function tuneSubsetShifts(fusion: FusionRecord, logits: readonly BranchLogits[], labels: Uint8Array, genres: number, subsets: readonly ModelInput[][], policy: ThresholdPolicy): FusionRecord {
  const records = subsets.map((inputs) => {
    const own = fusion.subsets?.find((s) => s.inputs.join(',') === inputs.join(','));
    return { inputs, weights: own?.weights ?? Object.fromEntries(inputs.map((i) => [i, fusion.weights[i] ?? 1])) };
  });
  const tuned: NonNullable<FusionRecord['subsets']> = [];
  for (const record of records) {
    let best = { f1: -1, shift: 0 };
    for (const shift of SHIFTS) {
      const trial: FusionRecord = { ...fusion, subsets: [{ ...record, shift }] };
      const pooled = poolSubsets(trial, logits, labels, genres, [record.inputs]);
      if (pooled.samples === 0) break;
      const f1 = new ConfusionCounts().add(decide(pooled.scores, pooled.samples, genres, policy), pooled.labels, pooled.samples, genres).microFBeta(1);
      // Ties go to the smallest shift.
      if (f1 > best.f1 + 1e-9 || (Math.abs(f1 - best.f1) <= 1e-9 && Math.abs(shift) < Math.abs(best.shift))) best = { f1, shift };
    }
    tuned.push({ ...record, shift: best.shift });
  }
  return { ...fusion, subsets: tuned };
}
