/**
 * Small, lossless edits of ONNX model files, so every backbone is read the
 * same way: its only output becomes the pooled feature, float32 [N, dim],
 * even when that is an internal quantised tensor (MobileNetV2's
 * `464_quantized`). The original outputs go, so ONNX Runtime prunes the
 * ImageNet classifier.
 *
 * Every other byte of the original model is copied as it was; only the added
 * messages are encoded, so fields our partial schema does not know survive.
 *
 * (Normalising inside the graph from uint8 input was tried: ONNX Runtime's
 * Cast/Mul/Add/Transpose cost 0.6 ms per crop here, the JavaScript lookup
 * table 0.37 ms, so normalisation stays in `views.ts`.)
 */
import protobuf from 'protobufjs';
import { PosterscopeError } from '../errors.js';
import type { BackboneSpec } from './registry.js';
import { ATTRIBUTE_TYPE, FIELD, ONNX_DATA_TYPE, onnx } from './onnx-schema.js';

const { Reader, Writer } = protobuf;
const WIRE_LENGTH_DELIMITED = 2;

interface RawField {
  id: number;
  wireType: number;
  start: number;
  end: number;
  /** For length-delimited fields: where the payload starts. */
  payloadStart: number;
}

function scanFields(bytes: Uint8Array): RawField[] {
  const reader = Reader.create(bytes);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    let payloadStart = reader.pos;
    if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = reader.uint32();
      payloadStart = reader.pos;
      reader.skip(length);
    } else {
      reader.skipType(wireType);
    }
    fields.push({ id, wireType, start, end: reader.pos, payloadStart });
  }
  return fields;
}

function lengthDelimited(id: number, payload: Uint8Array): Uint8Array {
  const writer = Writer.create();
  writer.uint32((id << 3) | WIRE_LENGTH_DELIMITED).bytes(payload);
  return writer.finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Names visible in a graph: its inputs, outputs, initialisers and node outputs. */
export interface GraphSummary {
  inputs: string[];
  outputs: string[];
  tensors: Set<string>;
  opsetVersion: number;
}

export function summarizeModel(bytes: Uint8Array): GraphSummary {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new PosterscopeError('MODEL_INVALID', `not an ONNX model (${(cause as Error).message})`, { cause });
  }
  const m = onnx.ModelProto.toObject(model, { longs: Number, defaults: true }) as {
    graph?: {
      input: Array<{ name: string }>;
      output: Array<{ name: string }>;
      initializer: Array<{ name: string }>;
      node: Array<{ output: string[] }>;
    };
    opsetImport: Array<{ domain: string; version: number }>;
  };
  if (!m.graph || m.graph.output.length === 0) throw new PosterscopeError('MODEL_INVALID', 'ONNX model has no graph outputs');
  const tensors = new Set<string>();
  for (const v of [...m.graph.input, ...m.graph.output, ...m.graph.initializer]) tensors.add(v.name);
  for (const node of m.graph.node) for (const name of node.output) tensors.add(name);
  const opset = m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return {
    inputs: m.graph.input.map((v) => v.name),
    outputs: m.graph.output.map((v) => v.name),
    tensors,
    opsetVersion: opset?.version ?? 0,
  };
}

/** The graph output posterscope reads features from. */
export const FEATURE_OUTPUT = 'posterscope_feature';

type GraphSpec = Pick<BackboneSpec, 'input' | 'feature'>;

function tensorType(elemType: number, dims: Array<number | string>) {
  return {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

function node(opType: string, input: string[], output: string, attribute: object[] = []): Uint8Array {
  return onnx.NodeProto.encode({ name: output, opType, input, output: [output], attribute }).finish();
}

/**
 * Checks a backbone against its registry row and rewrites it to return only
 * `FEATURE_OUTPUT` (float32 [N, dim]).
 *
 * @example
 *   const edited = prepareBackboneGraph(bytes, getBackboneSpec('mobilenetv2'));
 *   summarizeModel(edited) // -> { inputs: ['input'], outputs: ['posterscope_feature'], ... }
 */
export function prepareBackboneGraph(bytes: Uint8Array, spec: GraphSpec): Uint8Array {
  const { input, feature } = spec;
  const summary = summarizeModel(bytes);
  if (!summary.inputs.includes(input.name)) {
    throw new PosterscopeError('MODEL_INVALID', `ONNX model has no input "${input.name}" (it has ${summary.inputs.join(', ')})`, {
      subject: input.name,
    });
  }
  for (const name of [feature.tensor, feature.dequantize?.scale, feature.dequantize?.zeroPoint]) {
    if (name !== undefined && !summary.tensors.has(name)) {
      throw new PosterscopeError('MODEL_INVALID', `feature tensor "${name}" is not in the ONNX graph`, { subject: name });
    }
  }
  // DequantizeLinear needs opset 10; Flatten exists in every opset.
  const minimumOpset = feature.dequantize ? 10 : 1;
  if (summary.opsetVersion < minimumOpset) {
    throw new PosterscopeError('MODEL_INVALID', `posterscope needs ONNX opset >= ${minimumOpset}, the model has ${summary.opsetVersion}`);
  }

  // Epilogue: dequantise if needed, flatten to [N, dim].
  const epilogue: Uint8Array[] = [];
  const prefix = 'posterscope_';
  let current = feature.tensor;
  if (feature.dequantize) {
    current = `${prefix}dequantized`;
    epilogue.push(node('DequantizeLinear', [feature.tensor, feature.dequantize.scale, feature.dequantize.zeroPoint], current));
  }
  epilogue.push(node('Flatten', [current], FEATURE_OUTPUT, [{ name: 'axis', type: ATTRIBUTE_TYPE.INT, i: 1 }]));
  const output = onnx.ValueInfoProto.encode({ name: FEATURE_OUTPUT, type: tensorType(ONNX_DATA_TYPE.FLOAT, ['batch', feature.dim]) }).finish();

  const modelFields = scanFields(bytes);
  const graphField = modelFields.find((f) => f.id === FIELD.model.graph && f.wireType === WIRE_LENGTH_DELIMITED);
  if (!graphField) throw new PosterscopeError('MODEL_INVALID', 'ONNX model has no graph');
  const graph = bytes.subarray(graphField.payloadStart, graphField.end);
  const kept = scanFields(graph)
    .filter((f) => f.id !== FIELD.graph.output)
    .map((f) => graph.subarray(f.start, f.end));
  const newGraph = concat([
    ...kept,
    ...epilogue.map((n) => lengthDelimited(FIELD.graph.node, n)),
    lengthDelimited(FIELD.graph.output, output),
  ]);
  return concat([
    bytes.subarray(0, graphField.start),
    lengthDelimited(FIELD.model.graph, newGraph),
    bytes.subarray(graphField.end),
  ]);
}
