import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FEATURE_OUTPUT, exposeFeature, summarizeModel } from '../../../src/backbone/onnx-graph.js';
import { onnx } from '../../../src/backbone/onnx-schema.js';
import { tinyModel } from '../../helpers/onnx-models.js';

test('exposeFeature makes the feature the only output and keeps the rest of the model', () => {
  const bytes = tinyModel({ inputName: 'input', featureName: '464_quantized', dim: 8, size: 16, quantized: true });
  const edited = exposeFeature(bytes, { tensor: '464_quantized', dequantize: { scale: '464_scale', zeroPoint: '464_zero_point' }, dim: 8 });
  assert.deepEqual(summarizeModel(bytes).outputs, ['output']);
  assert.deepEqual(summarizeModel(edited).outputs, [FEATURE_OUTPUT]);
  const before = onnx.ModelProto.toObject(onnx.ModelProto.decode(new Uint8Array(bytes)), { longs: Number }) as { graph: { node: unknown[]; initializer: unknown[] } };
  const after = onnx.ModelProto.toObject(onnx.ModelProto.decode(new Uint8Array(edited)), { longs: Number }) as { graph: { node: Array<{ opType: string }>; initializer: unknown[] }; producerName: string };
  assert.equal(after.producerName, 'posterscope-tests');
  assert.deepEqual(after.graph.initializer, before.graph.initializer);
  assert.deepEqual(after.graph.node.slice(0, before.graph.node.length), before.graph.node);
  assert.deepEqual(after.graph.node.slice(before.graph.node.length).map((n) => n.opType), ['DequantizeLinear', 'Flatten']);
});

test('BAD CALL - exposeFeature names a feature tensor that is not in the graph', () => {
  const bytes = tinyModel({ inputName: 'input', featureName: 'feat', dim: 4, size: 8 });
  assert.throws(() => exposeFeature(bytes, { tensor: 'nope', dim: 4 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_INVALID');
    assert.match(e.message, /feature tensor "nope" is not in the ONNX graph/);
    return true;
  });
});

test('BAD CALL - summarizeModel on bytes that are not ONNX', () => {
  assert.throws(() => summarizeModel(new TextEncoder().encode('<html>not a model</html>')), { code: 'MODEL_INVALID' });
});
