import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FEATURE_OUTPUT, prepareBackboneGraph, summarizeModel } from '../../../src/backbone/onnx-graph.js';
import { onnx } from '../../../src/backbone/onnx-schema.js';
import { createRunner } from '../../../src/backbone/onnx-runtime.js';
import { tinyModel, tinyWeight } from '../../helpers/onnx-models.js';

const quantized = { tensor: '464_quantized', dequantize: { scale: '464_scale', zeroPoint: '464_zero_point' }, dim: 8 };

type Decoded = { producerName: string; graph: { node: Array<{ opType: string }>; initializer: Array<{ name: string }> } };
const decode = (bytes: Uint8Array) => onnx.ModelProto.toObject(onnx.ModelProto.decode(new Uint8Array(bytes)), { longs: Number }) as Decoded;

test('prepareBackboneGraph makes the feature the only output and keeps the rest of the model', () => {
  const bytes = tinyModel({ inputName: 'input', featureName: '464_quantized', dim: 8, size: 16, quantized: true });
  const edited = prepareBackboneGraph(bytes, { input: { name: 'input', layout: 'NCHW', height: 16, width: 16 }, feature: quantized });
  assert.deepEqual(summarizeModel(bytes).outputs, ['output']);
  const summary = summarizeModel(edited);
  assert.deepEqual(summary.inputs, ['input']);
  assert.deepEqual(summary.outputs, [FEATURE_OUTPUT]);
  const before = decode(bytes);
  const after = decode(edited);
  assert.equal(after.producerName, 'posterscope-tests');
  assert.deepEqual(after.graph.initializer, before.graph.initializer);
  assert.deepEqual(after.graph.node.slice(0, before.graph.node.length), before.graph.node);
  assert.deepEqual(after.graph.node.slice(before.graph.node.length).map((n) => n.opType), ['DequantizeLinear', 'Flatten']);
});

test('the edited graph runs and returns the flattened feature for either layout', async () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const bytes = tinyModel({ inputName: 'x', featureName: 'feat', dim: 2, size: 4, layout });
    const edited = prepareBackboneGraph(bytes, { input: { name: 'x', layout, height: 4, width: 4 }, feature: { tensor: 'feat', dim: 2 } });
    const runner = await createRunner(edited, { inputName: 'x', outputName: FEATURE_OUTPUT, threads: 1 });
    // Channel means (1, -1, 0.2): feature j = sum_c mean_c * w(c, j)
    const input = new Float32Array(3 * 16);
    for (let p = 0; p < 16; p++) {
      const values = [1, -1, 0.2];
      for (let c = 0; c < 3; c++) input[layout === 'NCHW' ? c * 16 + p : p * 3 + c] = values[c]!;
    }
    const out = await runner.run(input, layout === 'NCHW' ? [1, 3, 4, 4] : [1, 4, 4, 3]);
    await runner.release();
    assert.deepEqual(out.dims, [1, 2]);
    const expected = [0, 1].map((j) => +(tinyWeight(0, j) - tinyWeight(1, j) + 0.2 * tinyWeight(2, j)).toFixed(5));
    assert.deepEqual(Array.from(out.data).map((v) => +v.toFixed(5)), expected, layout);
  }
});

test('BAD CALL - prepareBackboneGraph names a tensor or input the graph lacks', () => {
  const bytes = tinyModel({ inputName: 'input', featureName: 'feat', dim: 4, size: 8 });
  const input = { name: 'input', layout: 'NCHW', height: 8, width: 8 } as const;
  assert.throws(() => prepareBackboneGraph(bytes, { input, feature: { tensor: 'nope', dim: 4 } }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_INVALID');
    assert.match(e.message, /feature tensor "nope" is not in the ONNX graph/);
    return true;
  });
  assert.throws(() => prepareBackboneGraph(bytes, { input: { ...input, name: 'pixel_values' }, feature: { tensor: 'feat', dim: 4 } }), /ONNX model has no input "pixel_values" \(it has input\)/);
});

test('BAD CALL - summarizeModel on bytes that are not ONNX', () => {
  assert.throws(() => summarizeModel(new TextEncoder().encode('<html>not a model</html>')), { code: 'MODEL_INVALID' });
});
