/**
 * Genre heads: small networks from an embedding to one logit per genre.
 *
 * `linear` is one dense layer; `mlp` adds a ReLU hidden layer with dropout.
 * Forward and backward are plain loops over Float32Arrays (row-major
 * [out x in] weights, so every inner loop is a contiguous dot product); they
 * are checked against finite differences in the tests.
 */
import { invalidParameterError } from '../errors.js';
import type { Random } from '../random.js';

export type HeadSpec = { type: 'linear' } | { type: 'mlp'; hidden: number; dropout: number };

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** [outputs x inputs], row-major. */
  weight: Float32Array;
  bias: Float32Array;
}

function dense(inputs: number, outputs: number, random: Random): DenseLayer {
  // He/Glorot-style scale keeps the first logits near zero.
  const scale = Math.sqrt(2 / (inputs + outputs));
  const weight = new Float32Array(inputs * outputs);
  for (let i = 0; i < weight.length; i++) weight[i] = random.normal() * scale;
  return { inputs, outputs, weight, bias: new Float32Array(outputs) };
}

/** y[n, o] = b[o] + sum_i x[n, i] W[o, i] */
function denseForward(layer: DenseLayer, x: Float32Array, rows: number, out: Float32Array): void {
  const { inputs, outputs, weight, bias } = layer;
  for (let n = 0; n < rows; n++) {
    const xo = n * inputs;
    for (let o = 0; o < outputs; o++) {
      const wo = o * inputs;
      let sum = bias[o]!;
      for (let i = 0; i < inputs; i++) sum += x[xo + i]! * weight[wo + i]!;
      out[n * outputs + o] = sum;
    }
  }
}

/** Accumulates dW, db; writes dX when asked. */
function denseBackward(
  layer: DenseLayer,
  x: Float32Array,
  gradOut: Float32Array,
  rows: number,
  gradWeight: Float32Array,
  gradBias: Float32Array,
  gradInput: Float32Array | undefined,
): void {
  const { inputs, outputs, weight } = layer;
  if (gradInput) gradInput.fill(0, 0, rows * inputs);
  for (let n = 0; n < rows; n++) {
    const xo = n * inputs;
    for (let o = 0; o < outputs; o++) {
      const g = gradOut[n * outputs + o]!;
      if (g === 0) continue;
      gradBias[o]! += g;
      const wo = o * inputs;
      for (let i = 0; i < inputs; i++) gradWeight[wo + i]! += g * x[xo + i]!;
      if (gradInput) for (let i = 0; i < inputs; i++) gradInput[xo + i]! += g * weight[wo + i]!;
    }
  }
}

export class GenreHead {
  readonly spec: HeadSpec;
  readonly inputs: number;
  readonly genres: number;
  readonly layers: DenseLayer[];
  /** Activations kept from the last training forward pass, for backward. */
  private cache: { x: Float32Array; rows: number; hidden?: Float32Array; mask?: Float32Array } | undefined;

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

  /** Rebuilds a head from saved layers (weights are used as given). */
  static fromLayers(spec: HeadSpec, layers: DenseLayer[]): GenreHead {
    const first = layers[0];
    const last = layers[layers.length - 1];
    if (!first || !last || layers.length !== (spec.type === 'mlp' ? 2 : 1)) {
      throw invalidParameterError('layers', `${spec.type === 'mlp' ? 2 : 1} dense layers`, layers);
    }
    return new GenreHead(spec, first.inputs, last.outputs, layers);
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
  forward(x: Float32Array, rows: number, random?: Random): Float32Array {
    const logits = new Float32Array(rows * this.genres);
    if (this.spec.type === 'linear') {
      denseForward(this.layers[0]!, x, rows, logits);
      if (random) this.cache = { x, rows };
      return logits;
    }
    const [first, second] = this.layers as [DenseLayer, DenseLayer];
    const hidden = new Float32Array(rows * first.outputs);
    denseForward(first, x, rows, hidden);
    let mask: Float32Array | undefined;
    const keep = 1 - this.spec.dropout;
    if (random && this.spec.dropout > 0) mask = new Float32Array(hidden.length);
    for (let i = 0; i < hidden.length; i++) {
      let h = hidden[i]! > 0 ? hidden[i]! : 0;
      if (mask) {
        // Inverted dropout: scale at training time so inference needs no change.
        const m = random!.next() < keep ? 1 / keep : 0;
        mask[i] = m;
        h *= m;
      }
      hidden[i] = h;
    }
    denseForward(second, hidden, rows, logits);
    if (random) this.cache = { x, rows, hidden, ...(mask ? { mask } : {}) };
    return logits;
  }

  /** Gradients of the loss for the last training forward pass, same order as `parameters()`. */
  backward(gradLogits: Float32Array): Float32Array[] {
    const cache = this.cache;
    if (!cache) throw new Error('backward() needs a training forward() first');
    const grads = this.parameters().map((p) => new Float32Array(p.length));
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

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
