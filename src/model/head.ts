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
 * Rows of a mostly-zero matrix (TF-IDF features): made once for a data set
 * by training instead of in every pass, else by each layer call (asSparse). Row n
 * holds columns[offsets[n] .. offsets[n + 1]), in increasing order, with
 * their values. A dense layer over them gives exactly the dense result
 * (adding a zero product never changes a sum).
 */
export interface SparseRows {
  readonly rows: number;
  /** Width of a row. */
  readonly inputs: number;
  /** rows + 1 entries. */
  readonly offsets: Int32Array;
  readonly columns: Int32Array;
  readonly values: Float32Array;
}

/**
 * `x` [rows x inputs] as SparseRows, or null when at least a quarter of it is
 * non-zero (the dense loops are then as fast).
 *
 * @example
 *   sparseRows(new Float32Array([0, 2, 0, 0, 0, 0, 0, 3]), 2, 4) // -> { offsets: [0, 1, 2], columns: [1, 3], values: [2, 3], … }
 */
export function sparseRows(x: Float32Array, rows: number, inputs: number): SparseRows | null {
  let count = 0;
  for (let i = 0; i < rows * inputs; i++) if (x[i] !== 0) count++;
  if (count * 4 > rows * inputs) return null;
  const offsets = new Int32Array(rows + 1);
  const columns = new Int32Array(count);
  const values = new Float32Array(count);
  for (let n = 0, k = 0; n < rows; n++) {
    const xo = n * inputs;
    for (let i = 0; i < inputs; i++) {
      const v = x[xo + i]!;
      if (v !== 0) {
        columns[k] = i;
        values[k++] = v;
      }
    }
    offsets[n + 1] = k;
  }
  return { rows, inputs, offsets, columns, values };
}

/**
 * Rows `order[start]`, `order[start + 1]`, … (`count` of them) of `s`, in that
 * order: a training batch.
 */
export function pickRows(s: SparseRows, order: ArrayLike<number>, start: number, count: number): SparseRows {
  let total = 0;
  for (let r = 0; r < count; r++) {
    const row = order[start + r]!;
    total += s.offsets[row + 1]! - s.offsets[row]!;
  }
  const offsets = new Int32Array(count + 1);
  const columns = new Int32Array(total);
  const values = new Float32Array(total);
  for (let r = 0, k = 0; r < count; r++) {
    const row = order[start + r]!;
    const from = s.offsets[row]!;
    const to = s.offsets[row + 1]!;
    columns.set(s.columns.subarray(from, to), k);
    values.set(s.values.subarray(from, to), k);
    k += to - from;
    offsets[r + 1] = k;
  }
  return { rows: count, inputs: s.inputs, offsets, columns, values };
}

/**
 * Rows of `x` as SparseRows when they are wide and mostly zeros (TF-IDF),
 * else null: what a dense layer loops over.
 */
export function asSparse(x: Float32Array | SparseRows, rows: number, inputs: number): SparseRows | null {
  if (!(x instanceof Float32Array)) return x;
  return inputs >= 256 ? sparseRows(x, rows, inputs) : null;
}

/** y[n, o] = b[o] + sum_i x[n, i] W[o, i] */
export function denseForward(layer: DenseLayer, x: Float32Array | SparseRows, rows: number, out: Float32Array): void {
  const { inputs, outputs, weight, bias } = layer;
  const sparse = asSparse(x, rows, inputs);
  if (sparse) {
    const { offsets, columns, values } = sparse;
    for (let n = 0; n < rows; n++) {
      const from = offsets[n]!;
      const to = offsets[n + 1]!;
      for (let o = 0; o < outputs; o++) {
        const wo = o * inputs;
        let sum = bias[o]!;
        for (let k = from; k < to; k++) sum += values[k]! * weight[wo + columns[k]!]!;
        out[n * outputs + o] = sum;
      }
    }
    return;
  }
  const dense = x as Float32Array;
  for (let n = 0; n < rows; n++) {
    const xo = n * inputs;
    for (let o = 0; o < outputs; o++) {
      const wo = o * inputs;
      let sum = bias[o]!;
      for (let i = 0; i < inputs; i++) sum += dense[xo + i]! * weight[wo + i]!;
      out[n * outputs + o] = sum;
    }
  }
}

/**
 * Logits [rows x genres]. `onHidden` sees the MLP's hidden activations after
 * the ReLU and may change them in place before the output layer (training
 * applies dropout there and keeps them for the backward pass).
 */
export function headLogits(head: HeadWeights, x: Float32Array | SparseRows, rows: number, onHidden?: (hidden: Float32Array) => void): Float32Array {
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
