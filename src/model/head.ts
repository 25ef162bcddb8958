/**
 * A genre head at inference: a small network from a standardised embedding
 * to one probability per genre. `linear` is one dense layer; `mlp` adds a
 * ReLU hidden layer (dropout exists only while training, in train/head.ts,
 * which runs this same forward pass). Weights are row-major [out x in], so
 * every inner loop is a contiguous dot product.
 */
export type HeadSpec = { type: 'linear' } | { type: 'mlp'; hidden: number; dropout: number };

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** [outputs x inputs], row-major. */
  weight: Float32Array;
  bias: Float32Array;
}

/** What a head is, whether it is being trained or was read from a bundle. */
export interface HeadWeights {
  readonly spec: HeadSpec;
  readonly layers: readonly DenseLayer[];
}

/** Per-dimension standardisation fitted on training embeddings and applied before the head. */
export interface Standardizer {
  mean: Float32Array;
  /** 1 / std (std floored so constant dimensions do not blow up). */
  scale: Float32Array;
}

/** Returns standardised copies of the rows of `x`. */
export function standardize(s: Standardizer, x: Float32Array): Float32Array {
  const dim = s.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = i % dim;
    out[i] = (x[i]! - s.mean[d]!) * s.scale[d]!;
  }
  return out;
}

/**
 * The non-zero columns of row `n` of `x` when the row is sparse (a TF-IDF
 * row: a few hundred of 8,192), else null; sparse rows take the short loop.
 */
export function sparseColumns(x: Float32Array, n: number, inputs: number): Int32Array | null {
  const xo = n * inputs;
  let count = 0;
  for (let i = 0; i < inputs; i++) if (x[xo + i] !== 0) count++;
  if (count * 4 > inputs) return null;
  const columns = new Int32Array(count);
  for (let i = 0, k = 0; i < inputs; i++) if (x[xo + i] !== 0) columns[k++] = i;
  return columns;
}

/** y[n, o] = b[o] + sum_i x[n, i] W[o, i] */
export function denseForward(layer: DenseLayer, x: Float32Array, rows: number, out: Float32Array): void {
  const { inputs, outputs, weight, bias } = layer;
  for (let n = 0; n < rows; n++) {
    const xo = n * inputs;
    const columns = inputs >= 256 ? sparseColumns(x, n, inputs) : null;
    if (columns) {
      for (let o = 0; o < outputs; o++) {
        const wo = o * inputs;
        let sum = bias[o]!;
        for (let k = 0; k < columns.length; k++) sum += x[xo + columns[k]!]! * weight[wo + columns[k]!]!;
        out[n * outputs + o] = sum;
      }
      continue;
    }
    for (let o = 0; o < outputs; o++) {
      const wo = o * inputs;
      let sum = bias[o]!;
      for (let i = 0; i < inputs; i++) sum += x[xo + i]! * weight[wo + i]!;
      out[n * outputs + o] = sum;
    }
  }
}

/**
 * Logits [rows x genres]. `onHidden` sees the MLP's hidden activations after
 * the ReLU and may change them in place before the output layer (training
 * applies dropout there and keeps them for the backward pass).
 */
export function headLogits(head: HeadWeights, x: Float32Array, rows: number, onHidden?: (hidden: Float32Array) => void): Float32Array {
  const last = head.layers[head.layers.length - 1]!;
  const logits = new Float32Array(rows * last.outputs);
  if (head.spec.type === 'linear') {
    denseForward(head.layers[0]!, x, rows, logits);
    return logits;
  }
  const [first, second] = head.layers as [DenseLayer, DenseLayer];
  const hidden = new Float32Array(rows * first.outputs);
  denseForward(first, x, rows, hidden);
  for (let i = 0; i < hidden.length; i++) if (!(hidden[i]! > 0)) hidden[i] = 0;
  onHidden?.(hidden);
  denseForward(second, hidden, rows, logits);
  return logits;
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Probabilities [rows x genres] for standardised features [rows x inputs]. */
export function headScores(head: HeadWeights, x: Float32Array, rows: number): Float32Array {
  const logits = headLogits(head, x, rows);
  for (let i = 0; i < logits.length; i++) logits[i] = sigmoid(logits[i]!);
  return logits;
}
