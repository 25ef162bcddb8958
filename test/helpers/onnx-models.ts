/**
 * Tiny ONNX graphs with the same inputs and outputs as real backbones, built
 * with the project's own ONNX schema, so tests exercise resolution,
 * preprocessing, graph editing and inference without real weights.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackboneSpec } from '../../src/backbone/registry.js';
import { ATTRIBUTE_TYPE, ONNX_DATA_TYPE, onnx } from '../../src/backbone/onnx-schema.js';

function floatTensor(name: string, dims: number[], values: number[]) {
  return { name, dims, dataType: ONNX_DATA_TYPE.FLOAT, floatData: values };
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface TinyModelOptions {
  inputName: string;
  /** Name of the float feature output ([N, dim]) or, when quantised, of the internal uint8 tensor. */
  featureName: string;
  dim: number;
  size?: number;
  layout?: 'NCHW' | 'NHWC';
  /** Put the feature inside the graph as a quantised tensor (like MobileNetV2 int8) with a classifier output after it. */
  quantized?: boolean;
}

/** The tiny model's weight from channel c to feature j: full rank, so features keep all 3 channel means. */
export function tinyWeight(c: number, j: number): number {
  return Math.round(Math.cos((j + 1) * (c + 1.5)) * 100) / 100;
}

/**
 * Builds a model: per-channel mean of the image -> [N,3] -> x W (3 x dim) -> feature.
 * Feature j = sum_c mean_c * tinyWeight(c, j): easy to check by hand.
 */
export function tinyModel(options: TinyModelOptions): Uint8Array {
  const size = options.size ?? 224;
  const layout = options.layout ?? 'NCHW';
  const weights: number[] = [];
  for (let c = 0; c < 3; c++) for (let j = 0; j < options.dim; j++) weights.push(tinyWeight(c, j));
  const nodes: object[] = [];
  const initializer: object[] = [floatTensor('w', [3, options.dim], weights)];
  const inputDims = layout === 'NCHW' ? ['batch', 3, size, size] : ['batch', size, size, 3];
  const axes = layout === 'NCHW' ? [2, 3] : [1, 2];
  nodes.push({ opType: 'ReduceMean', input: ['image'], output: ['pooled'], attribute: [{ name: 'axes', type: ATTRIBUTE_TYPE.INTS, ints: axes }, { name: 'keepdims', type: ATTRIBUTE_TYPE.INT, i: 0 }] });
  nodes[0] = { ...(nodes[0] as object), input: [options.inputName] };
  const featureFloat = options.quantized ? 'feature_float' : options.featureName;
  nodes.push({ opType: 'MatMul', input: ['pooled', 'w'], output: [featureFloat] });
  const outputs = [];
  if (options.quantized) {
    const base = options.featureName.replace(/_quantized$/, '');
    initializer.push(floatTensor(`${base}_scale`, [], [0.05]));
    initializer.push({ name: `${base}_zero_point`, dims: [], dataType: ONNX_DATA_TYPE.UINT8, rawData: new Uint8Array([0]) });
    nodes.push({ opType: 'QuantizeLinear', input: [featureFloat, `${base}_scale`, `${base}_zero_point`], output: [options.featureName] });
    nodes.push({ opType: 'DequantizeLinear', input: [options.featureName, `${base}_scale`, `${base}_zero_point`], output: ['dq'] });
    initializer.push(floatTensor('cls', [options.dim, 2], Array.from({ length: options.dim * 2 }, (_, i) => (i % 3) - 1)));
    nodes.push({ opType: 'MatMul', input: ['dq', 'cls'], output: ['output'] });
    outputs.push(valueInfo('output', ONNX_DATA_TYPE.FLOAT, ['batch', 2]));
  } else {
    outputs.push(valueInfo(options.featureName, ONNX_DATA_TYPE.FLOAT, ['batch', options.dim]));
  }
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'posterscope-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      node: nodes,
      initializer,
      input: [valueInfo(options.inputName, ONNX_DATA_TYPE.FLOAT, inputDims)],
      output: outputs,
    },
  }).finish();
}

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes a tiny model shaped like a registry row into `dir` (named as the row's
 * file) and returns the row with its checksum and size filled in.
 */
export async function tinyBackbone(dir: string, spec: BackboneSpec, options: { size?: number; quantized?: boolean } = {}) {
  const size = options.size ?? 32;
  const bytes = tinyModel({
    inputName: spec.input.name,
    featureName: spec.feature.tensor,
    dim: spec.feature.dim,
    size,
    layout: spec.input.layout,
    quantized: options.quantized ?? Boolean(spec.feature.dequantize),
  });
  const path = join(dir, spec.file.fileName);
  await writeFile(path, bytes);
  const row: BackboneSpec = {
    ...spec,
    input: { ...spec.input, height: size, width: size },
    file: { ...spec.file, urls: [], sha256: sha256(bytes), size: bytes.length },
  };
  return { row, path, bytes };
}
