/**
 * The slice of the ONNX protobuf schema posterscope reads and writes, written
 * out with protobufjs reflection (field numbers from the ONNX IR spec).
 *
 * It is deliberately partial: messages decoded with it drop fields it does not
 * name, so graph edits never re-encode a whole decoded model. `onnx-graph.ts`
 * copies every untouched field byte-for-byte and only encodes what it adds.
 */
import protobuf from 'protobufjs';

const { Type, Field, Root } = protobuf;

export const ONNX_DATA_TYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
} as const;

export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Field numbers the lossless editor needs to find inside encoded messages. */
export const FIELD = {
  model: { graph: 7 },
  graph: { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 },
} as const;

function message(name: string, fields: Array<[string, number, string, ('repeated' | undefined)?]>) {
  const type = new Type(name);
  for (const [fieldName, id, fieldType, rule] of fields) type.add(new Field(fieldName, id, fieldType, rule));
  return type;
}

const root = new Root();
root.define('onnx').add(message('OperatorSetIdProto', [['domain', 1, 'string'], ['version', 2, 'int64']]))
  .add(message('StringStringEntryProto', [['key', 1, 'string'], ['value', 2, 'string']]))
  .add(message('TensorProto', [
    ['dims', 1, 'int64', 'repeated'],
    ['dataType', 2, 'int32'],
    ['floatData', 4, 'float', 'repeated'],
    ['int32Data', 5, 'int32', 'repeated'],
    ['int64Data', 7, 'int64', 'repeated'],
    ['name', 8, 'string'],
    ['rawData', 9, 'bytes'],
  ]))
  .add(message('Dimension', [['dimValue', 1, 'int64'], ['dimParam', 2, 'string']]))
  .add(message('TensorShapeProto', [['dim', 1, 'Dimension', 'repeated']]))
  .add(message('TensorTypeProto', [['elemType', 1, 'int32'], ['shape', 2, 'TensorShapeProto']]))
  .add(message('TypeProto', [['tensorType', 1, 'TensorTypeProto']]))
  .add(message('ValueInfoProto', [['name', 1, 'string'], ['type', 2, 'TypeProto']]))
  .add(message('AttributeProto', [
    ['name', 1, 'string'],
    ['f', 2, 'float'],
    ['i', 3, 'int64'],
    ['s', 4, 'bytes'],
    ['t', 5, 'TensorProto'],
    ['floats', 7, 'float', 'repeated'],
    ['ints', 8, 'int64', 'repeated'],
    ['type', 20, 'int32'],
  ]))
  .add(message('NodeProto', [
    ['input', 1, 'string', 'repeated'],
    ['output', 2, 'string', 'repeated'],
    ['name', 3, 'string'],
    ['opType', 4, 'string'],
    ['attribute', 5, 'AttributeProto', 'repeated'],
    ['domain', 7, 'string'],
  ]))
  .add(message('GraphProto', [
    ['node', 1, 'NodeProto', 'repeated'],
    ['name', 2, 'string'],
    ['initializer', 5, 'TensorProto', 'repeated'],
    ['input', 11, 'ValueInfoProto', 'repeated'],
    ['output', 12, 'ValueInfoProto', 'repeated'],
    ['valueInfo', 13, 'ValueInfoProto', 'repeated'],
  ]))
  .add(message('ModelProto', [
    ['irVersion', 1, 'int64'],
    ['producerName', 2, 'string'],
    ['graph', 7, 'GraphProto'],
    ['opsetImport', 8, 'OperatorSetIdProto', 'repeated'],
    ['metadataProps', 14, 'StringStringEntryProto', 'repeated'],
  ]));

export const onnx = {
  ModelProto: root.lookupType('onnx.ModelProto'),
  GraphProto: root.lookupType('onnx.GraphProto'),
  NodeProto: root.lookupType('onnx.NodeProto'),
  ValueInfoProto: root.lookupType('onnx.ValueInfoProto'),
  TensorProto: root.lookupType('onnx.TensorProto'),
};
