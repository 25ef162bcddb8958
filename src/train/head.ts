/**
 * Training a genre head: initialisation, dropout and the backward pass. The
 * forward pass is the inference one (model/head.ts), with dropout applied to
 * its hidden activations; backward is checked against finite differences in
 * the tests.
 */
import { invalidParameterError } from '../errors.js';
import { type DenseLayer, type HeadSpec, type HeadWeights, type SparseRows, asSparse, headLogits } from '../model/head.js';
import type { Random } from '../random.js';

function dense(inputs: number, outputs: number, random: Random): DenseLayer {
  // He/Glorot-style scale keeps the first logits near zero.
  const scale = Math.sqrt(2 / (inputs + outputs));
  const weight = new Float32Array(inputs * outputs);
  for (let i = 0; i < weight.length; i++) weight[i] = random.normal() * scale;
  return { inputs, outputs, weight, bias: new Float32Array(outputs) };
}

/** Accumulates dW, db; writes dX when asked. */
function denseBackward(
  layer: DenseLayer,
  x: Float32Array | SparseRows,
  gradOut: Float32Array,
  rows: number,
  gradWeight: Float32Array,
  gradBias: Float32Array,
  gradInput: Float32Array | undefined,
): void {
  const { inputs, outputs, weight } = layer;
  if (gradInput) gradInput.fill(0, 0, rows * inputs);
  const sparse = asSparse(x, rows, inputs);
  const dense = x as Float32Array;
  for (let n = 0; n < rows; n++) {
    const xo = n * inputs;
    const from = sparse ? sparse.offsets[n]! : 0;
    const to = sparse ? sparse.offsets[n + 1]! : 0;
    for (let o = 0; o < outputs; o++) {
      const g = gradOut[n * outputs + o]!;
      if (g === 0) continue;
      gradBias[o]! += g;
      const wo = o * inputs;
      // Sparse rows (TF-IDF): only their non-zero columns have a gradient.
      if (sparse) for (let k = from; k < to; k++) gradWeight[wo + sparse.columns[k]!]! += g * sparse.values[k]!;
      else for (let i = 0; i < inputs; i++) gradWeight[wo + i]! += g * dense[xo + i]!;
      if (gradInput) for (let i = 0; i < inputs; i++) gradInput[xo + i]! += g * weight[wo + i]!;
    }
  }
}

export class GenreHead implements HeadWeights {
  readonly spec: HeadSpec;
  readonly inputs: number;
  readonly genres: number;
  readonly layers: DenseLayer[];
  /** Activations kept from the last training forward pass, for backward. */
  private cache: { x: Float32Array | SparseRows; rows: number; hidden?: Float32Array; mask?: Float32Array } | undefined;
  /** What backward() returns, reused. */
  private grads: Float32Array[] | undefined;

  private constructor(spec: HeadSpec, inputs: number, genres: number, layers: DenseLayer[]) {
    this.spec = spec;
    this.inputs = inputs;
    this.genres = genres;
    this.layers = layers;
  }

  /**
   * @example
   *   GenreHead.create({ type: 'linear' }, 1280, 25, new Random(0)).parameterCount // -> 32025
   */
  static create(spec: HeadSpec, inputs: number, genres: number, random: Random, prior?: Float32Array): GenreHead {
    let layers: DenseLayer[];
    if (spec.type === 'mlp') {
      if (!Number.isInteger(spec.hidden) || spec.hidden < 1) throw invalidParameterError('hidden', 'positive integer', spec.hidden);
      if (!(spec.dropout >= 0 && spec.dropout < 1)) throw invalidParameterError('dropout', 'number in [0, 1)', spec.dropout);
      layers = [dense(inputs, spec.hidden, random), dense(spec.hidden, genres, random)];
    } else layers = [dense(inputs, genres, random)];
    if (prior) {
      // Start from the label-frequency prior: zero output weights, bias = logit(prior).
      // Training then spends its epochs on what the poster adds, not on learning base rates.
      const out = layers[layers.length - 1]!;
      out.weight.fill(0);
      for (let g = 0; g < genres; g++) {
        const p = Math.min(Math.max(prior[g]!, 1e-4), 1 - 1e-4);
        out.bias[g] = Math.log(p / (1 - p));
      }
    }
    return new GenreHead(spec, inputs, genres, layers);
  }

  get parameterCount(): number {
    return this.layers.reduce((n, l) => n + l.weight.length + l.bias.length, 0);
  }

  /** Parameters in a fixed order: weight, bias per layer. */
  parameters(): Float32Array[] {
    return this.layers.flatMap((l) => [l.weight, l.bias]);
  }

  /**
   * Logits [rows x genres]. With `random` (training) dropout is applied and
   * activations are kept for `backward`.
   */
  forward(x: Float32Array | SparseRows, rows: number, random?: Random): Float32Array {
    if (!random) return headLogits(this, x, rows);
    let hidden: Float32Array | undefined;
    let mask: Float32Array | undefined;
    const dropout = this.spec.type === 'mlp' ? this.spec.dropout : 0;
    const logits = headLogits(this, x, rows, (h) => {
      hidden = h;
      if (dropout === 0) return;
      // Inverted dropout: scale at training time so inference needs no change.
      const keep = 1 - dropout;
      mask = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) {
        const m = random.next() < keep ? 1 / keep : 0;
        mask[i] = m;
        h[i] = h[i]! * m;
      }
    });
    this.cache = { x, rows, ...(hidden ? { hidden } : {}), ...(mask ? { mask } : {}) };
    return logits;
  }

  /**
   * Gradients of the loss for the last training forward pass, same order as
   * `parameters()`. The arrays are the head's own, overwritten by the next
   * call: a fresh 3.3 MB per step for a 32,768-term head was mostly page
   * faults, every step.
   */
  backward(gradLogits: Float32Array): Float32Array[] {
    const cache = this.cache;
    if (!cache) throw new Error('backward() needs a training forward() first');
    if (this.grads) for (const g of this.grads) g.fill(0);
    else this.grads = this.parameters().map((p) => new Float32Array(p.length));
    const grads = this.grads;
    if (this.spec.type === 'linear') {
      denseBackward(this.layers[0]!, cache.x, gradLogits, cache.rows, grads[0]!, grads[1]!, undefined);
      return grads;
    }
    const [first, second] = this.layers as [DenseLayer, DenseLayer];
    const gradHidden = new Float32Array(cache.rows * first.outputs);
    denseBackward(second, cache.hidden!, gradLogits, cache.rows, grads[2]!, grads[3]!, gradHidden);
    for (let i = 0; i < gradHidden.length; i++) {
      // ReLU passes gradient only where the (pre-dropout) unit was active.
      const active = cache.hidden![i]! > 0 ? 1 : 0;
      gradHidden[i] = gradHidden[i]! * active * (cache.mask ? cache.mask[i]! : 1);
    }
    denseBackward(first, cache.x, gradHidden, cache.rows, grads[0]!, grads[1]!, undefined);
    return grads;
  }
}
