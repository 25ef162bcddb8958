/**
 * Fusing the heads of a model: each head (image, title, plot) gives logits
 * for the inputs a prediction has; `sum` fusion centres every head's logits
 * on the genre prior and adds them, each weighted:
 *
 *   logit = center + sum over present inputs b of w_b * (logit_b - center)
 *
 * With one input present and its weight 1 that is the head's own logit; an
 * absent input adds nothing. Each subset of inputs may have weights of its
 * own (`fusion.subsets`), so any subset gives a calibrated score (tuned on
 * validation; train/fusion.ts).
 */
import type { Fusion } from './bundle.js';
import { headScores, sigmoid } from './head.js';
import type { ModelInput } from './inputs.js';

export type BranchLogits = Partial<Record<ModelInput, Float32Array>>;

/**
 * Probabilities [rows x genres] from the logits of the heads in `use` (default: every head given).
 *
 * @example
 *   fuseScores({ type: 'sum', center: [0], weights: { image: 1, title: 0.5 } }, { image: Float32Array.of(2), title: Float32Array.of(-2) }, 1)
 *   // -> Float32Array [0.731]   (sigmoid(0 + 2 - 1))
 */
export function fuseScores(fusion: Fusion | undefined, logits: BranchLogits, rows: number, use?: readonly ModelInput[], features?: BranchLogits): Float32Array {
  const inputs = (use ?? (Object.keys(logits) as ModelInput[])).filter((input) => logits[input] !== undefined);
  if (fusion?.type === 'concat') return concatScores(fusion, features ?? {}, rows, inputs);
  const first = logits[inputs[0]!];
  const genres = fusion ? fusion.center.length : first!.length / rows;
  const out = new Float32Array(rows * genres);
  if (!fusion) {
    // One head, nothing to fuse.
    for (let i = 0; i < out.length; i++) out[i] = sigmoid(first![i]!);
    return out;
  }
  const key = inputs.slice().sort().join(',');
  const subset = fusion.subsets?.find((s) => s.inputs.slice().sort().join(',') === key);
  const weights = subset?.weights ?? fusion.weights;
  const shift = subset?.shift ?? 0;
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < genres; g++) {
      const center = fusion.center[g]!;
      let z = center + shift;
      for (const input of inputs) z += (weights[input] ?? 1) * (logits[input]![r * genres + g]! - center);
      out[r * genres + g] = sigmoid(z);
    }
  }
  return out;
}

/**
 * The concat fusion's input rows: each input's features (zeros when absent
 * or not in `use`) in the fusion's order, then a presence flag per input.
 */
export function concatFeatures(fusion: Pick<Extract<Fusion, { type: 'concat' }>, 'inputs' | 'dims'>, features: BranchLogits, rows: number, use: readonly ModelInput[]): Float32Array {
  const width = fusion.dims.reduce((a, b) => a + b, 0) + fusion.inputs.length;
  const x = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    let offset = r * width;
    fusion.inputs.forEach((input, k) => {
      const dim = fusion.dims[k]!;
      const f = features[input];
      if (f && use.includes(input)) {
        x.set(f.subarray(r * dim, (r + 1) * dim), offset);
        x[r * width + width - fusion.inputs.length + k] = 1;
      }
      offset += dim;
    });
  }
  return x;
}

function concatScores(fusion: Extract<Fusion, { type: 'concat' }>, features: BranchLogits, rows: number, use: readonly ModelInput[]): Float32Array {
  return headScores(fusion, concatFeatures(fusion, features, rows, use), rows);
}
