/**
 * Small, lossless edits of ONNX model files.
 *
 * A backbone's pooled feature is often an internal tensor (MobileNetV2's is a
 * quantised `464_quantized`). `exposeFeature` makes it a float graph output by
 * appending nodes and replacing the graph's outputs. Every other byte of the
 * original model is copied as it was; only the appended messages are encoded,
 * so fields our partial schema does not know survive the edit.
 */
import protobuf from 'protobufjs';
import { PosterscopeError } from '../errors.js';
import type { FeatureSpec } from './registry.js';
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

/** The graph output name posterscope reads features from. */
export const FEATURE_OUTPUT = 'posterscope_feature';

/**
 * Returns model bytes whose only output is `feature.tensor` as a float32
 * [N, dim] tensor named `FEATURE_OUTPUT` (dequantised and flattened as needed).
 *
 * @example
 *   const edited = exposeFeature(bytes, getBackboneSpec('mobilenetv2').feature);
 *   summarizeModel(edited).outputs // -> ['posterscope_feature']
 */
export function exposeFeature(bytes: Uint8Array, feature: FeatureSpec): Uint8Array {
  const summary = summarizeModel(bytes);
  for (const name of [feature.tensor, feature.dequantize?.scale, feature.dequantize?.zeroPoint]) {
    if (name !== undefined && !summary.tensors.has(name)) {
      throw new PosterscopeError('MODEL_INVALID', `feature tensor "${name}" is not in the ONNX graph`, { subject: name });
    }
  }
  if (feature.dequantize && summary.opsetVersion < 10) {
    throw new PosterscopeError('MODEL_INVALID', `dequantising "${feature.tensor}" needs opset >= 10, model has ${summary.opsetVersion}`);
  }

  const nodes: Uint8Array[] = [];
  let current = feature.tensor;
  if (feature.dequantize) {
    const out = `${FEATURE_OUTPUT}_dequantized`;
    nodes.push(
      onnx.NodeProto.encode({
        name: out,
        opType: 'DequantizeLinear',
        input: [current, feature.dequantize.scale, feature.dequantize.zeroPoint],
        output: [out],
      }).finish(),
    );
    current = out;
  }
  nodes.push(
    onnx.NodeProto.encode({
      name: FEATURE_OUTPUT,
      opType: 'Flatten',
      input: [current],
      output: [FEATURE_OUTPUT],
      attribute: [{ name: 'axis', type: ATTRIBUTE_TYPE.INT, i: 1 }],
    }).finish(),
  );
  const output = onnx.ValueInfoProto.encode({
    name: FEATURE_OUTPUT,
    type: {
      tensorType: {
        elemType: ONNX_DATA_TYPE.FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, { dimValue: feature.dim }] },
      },
    },
  }).finish();

  const modelFields = scanFields(bytes);
  const graphField = modelFields.find((f) => f.id === FIELD.model.graph && f.wireType === WIRE_LENGTH_DELIMITED);
  if (!graphField) throw new PosterscopeError('MODEL_INVALID', 'ONNX model has no graph');
  const graph = bytes.subarray(graphField.payloadStart, graphField.end);
  // The original outputs (e.g. ImageNet logits) go: ONNX Runtime then prunes the classifier.
  const kept = scanFields(graph)
    .filter((f) => f.id !== FIELD.graph.output)
    .map((f) => graph.subarray(f.start, f.end));
  const newGraph = concat([
    ...kept,
    ...nodes.map((n) => lengthDelimited(FIELD.graph.node, n)),
    lengthDelimited(FIELD.graph.output, output),
  ]);
  return concat([
    bytes.subarray(0, graphField.start),
    lengthDelimited(FIELD.model.graph, newGraph),
    bytes.subarray(graphField.end),
  ]);
}
