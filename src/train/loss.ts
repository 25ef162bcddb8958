/**
 * Multi-label losses on logits, each returning the mean loss over
 * rows x genres and its gradient with respect to the logits.
 *
 * - `bce`: binary cross-entropy, optionally with per-genre positive weights
 *   (rare genres count more when they are present).
 * - `focal`: down-weights easy examples by (1 - p_t)^gamma (Lin et al. 2017).
 * - `asymmetric`: focal with separate gammas for positives and negatives and
 *   a probability margin on negatives (Ridnik et al. 2021), for label sets
 *   where most genres are absent from most posters.
 */
import { invalidParameterError } from '../errors.js';
import { sigmoid } from '../model/head.js';

export type LossSpec =
  | { type: 'bce'; positiveWeights?: Float32Array }
  | { type: 'focal'; gamma: number }
  | { type: 'asymmetric'; gammaPositive: number; gammaNegative: number; margin: number };

export interface LossResult {
  loss: number;
  grad: Float32Array;
}

const EPS = 1e-7;

/** log(sigmoid(x)) without overflow. */
function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/**
 * @example
 *   computeLoss({ type: 'bce' }, new Float32Array([0]), new Uint8Array([1]), 1, 1).loss // -> 0.6931 (log 2)
 */
export function computeLoss(spec: LossSpec, logits: Float32Array, labels: Uint8Array, rows: number, genres: number): LossResult {
  const grad = new Float32Array(logits.length);
  const count = rows * genres;
  let total = 0;
  for (let n = 0; n < rows; n++) {
    for (let g = 0; g < genres; g++) {
      const i = n * genres + g;
      const z = logits[i]!;
      const y = labels[i]!;
      const p = sigmoid(z);
      let loss: number;
      let dz: number;
      switch (spec.type) {
        case 'bce': {
          const w = y === 1 && spec.positiveWeights ? spec.positiveWeights[g]! : 1;
          loss = -w * (y === 1 ? logSigmoid(z) : logSigmoid(-z));
          dz = y === 1 ? w * (p - 1) : p;
          break;
        }
        case 'focal': {
          // L = -(1 - pt)^gamma log(pt), pt = p if y else 1 - p.
          const pt = y === 1 ? p : 1 - p;
          const logPt = y === 1 ? logSigmoid(z) : logSigmoid(-z);
          const gamma = spec.gamma;
          const mod = Math.pow(Math.max(1 - pt, 0), gamma);
          loss = -mod * logPt;
          // dpt/dz = pt (1 - pt) * (y ? 1 : -1)
          const dLdpt = gamma * Math.pow(Math.max(1 - pt, EPS), gamma - 1) * logPt - mod / Math.max(pt, EPS);
          dz = dLdpt * pt * (1 - pt) * (y === 1 ? 1 : -1);
          break;
        }
        case 'asymmetric': {
          if (y === 1) {
            const gamma = spec.gammaPositive;
            const mod = Math.pow(1 - p, gamma);
            const logP = logSigmoid(z);
            loss = -mod * logP;
            const dLdp = gamma * Math.pow(Math.max(1 - p, EPS), gamma - 1) * logP - mod / Math.max(p, EPS);
            dz = dLdp * p * (1 - p);
          } else {
            // Shifted probability: easy negatives below the margin cost nothing.
            const pm = Math.max(p - spec.margin, 0);
            const gamma = spec.gammaNegative;
            const logOneMinus = Math.log(Math.max(1 - pm, EPS));
            loss = -Math.pow(pm, gamma) * logOneMinus;
            if (pm <= 0) dz = 0;
            else {
              const dLdpm = -gamma * Math.pow(pm, gamma - 1) * logOneMinus + Math.pow(pm, gamma) / Math.max(1 - pm, EPS);
              dz = dLdpm * p * (1 - p);
            }
          }
          break;
        }
      }
      total += loss;
      grad[i] = dz / count;
    }
  }
  return { loss: total / count, grad };
}

/**
 * Per-genre positive weights: negatives / positives, square-rooted to stay
 * gentle, within [1, cap]: positives are never down-weighted, and a genre with
 * two posters does not dominate.
 *
 * @example
 *   positiveWeights(new Uint8Array([1, 0, 0, 0]), 4, 1)[0] // -> 1.7320508 (sqrt(3))
 */
export function positiveWeights(labels: Uint8Array, rows: number, genres: number, cap = 10): Float32Array {
  const out = new Float32Array(genres);
  for (let g = 0; g < genres; g++) {
    let positives = 0;
    for (let n = 0; n < rows; n++) positives += labels[n * genres + g]!;
    out[g] = positives === 0 ? 1 : Math.min(cap, Math.max(1, Math.sqrt((rows - positives) / positives)));
  }
  return out;
}

export function parseLoss(name: string, labels?: { labels: Uint8Array; rows: number; genres: number }): LossSpec {
  switch (name) {
    case 'bce':
      return { type: 'bce' };
    case 'bce-weighted':
      if (!labels) throw invalidParameterError('loss', 'training labels for bce-weighted', name);
      return { type: 'bce', positiveWeights: positiveWeights(labels.labels, labels.rows, labels.genres) };
    case 'focal':
      return { type: 'focal', gamma: 2 };
    case 'asymmetric':
      return { type: 'asymmetric', gammaPositive: 0, gammaNegative: 4, margin: 0.05 };
    default:
      throw invalidParameterError('loss', 'one of bce, bce-weighted, focal, asymmetric', name);
  }
}
