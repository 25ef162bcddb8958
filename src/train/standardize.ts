/**
 * Fits the per-dimension standardisation of embeddings on training rows; the
 * bundle stores it and `standardize` (model/head.ts) applies it, in training
 * and prediction alike.
 */
import type { Standardizer } from '../model/head.js';

/**
 * @example
 *   fitStandardizer(new Float32Array([1, 10, 3, 30]), 2).mean // -> Float32Array [2, 20]
 */
export function fitStandardizer(x: Float32Array, rows: number): Standardizer {
  const dim = x.length / rows;
  const mean = new Float64Array(dim);
  const square = new Float64Array(dim);
  for (let n = 0; n < rows; n++) {
    for (let d = 0; d < dim; d++) {
      const v = x[n * dim + d]!;
      mean[d]! += v;
      square[d]! += v * v;
    }
  }
  const out: Standardizer = { mean: new Float32Array(dim), scale: new Float32Array(dim) };
  for (let d = 0; d < dim; d++) {
    const m = mean[d]! / rows;
    const variance = Math.max(square[d]! / rows - m * m, 0);
    out.mean[d] = m;
    out.scale[d] = 1 / Math.max(Math.sqrt(variance), 1e-3);
  }
  return out;
}
