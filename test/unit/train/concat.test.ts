/**
 * The concat fusion's MLP: concatenated features (a dense image part, sparse
 * TF-IDF parts, presence flags) take the sparse path of the dense layer; its
 * forward pass equals the plain sums and its backward pass equals finite
 * differences, like the heads' in head.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatFeatures, fuseScores } from '../../../src/model/fusion.js';
import { type HeadSpec, sigmoid, sparseRows } from '../../../src/model/head.js';
import { Random } from '../../../src/random.js';
import { GenreHead } from '../../../src/train/head.js';
import { computeLoss } from '../../../src/train/loss.js';

const shape = { inputs: ['image', 'title', 'plot'] as Array<'image' | 'title' | 'plot'>, dims: [8, 150, 150] };
const width = 8 + 150 + 150 + 3;
const rows = 3;
const genres = 2;
const random = new Random(11);
const sparseText = (dim: number, nonZero: number) => {
  const v = new Float32Array(dim);
  for (let k = 0; k < nonZero; k++) v[Math.floor(random.next() * dim)] = random.next();
  return v;
};
const rowFeatures = Array.from({ length: rows }, () => ({ image: Float32Array.from({ length: 8 }, () => random.normal()), title: sparseText(150, 4), plot: sparseText(150, 12) }));
const uses = [['image', 'title', 'plot'], ['title', 'plot'], ['image']] as const;
const x = new Float32Array(rows * width);
rowFeatures.forEach((f, r) => x.set(concatFeatures(shape, f, 1, uses[r]!), r * width));
const labels = new Uint8Array([1, 0, 0, 1, 1, 1]);

test('concatenated features: each input in its place, zeros and a 0 flag where absent', () => {
  const [first, second, third] = [0, 1, 2].map((r) => x.subarray(r * width, (r + 1) * width));
  assert.deepEqual(Array.from(first!.subarray(width - 3)), [1, 1, 1]);
  assert.deepEqual(Array.from(second!.subarray(width - 3)), [0, 1, 1]);
  assert.ok(second!.subarray(0, 8).every((v) => v === 0), 'the image left out is zeros');
  assert.deepEqual(Array.from(second!.subarray(8, 158)), Array.from(rowFeatures[1]!.title));
  assert.deepEqual(Array.from(third!.subarray(width - 3)), [1, 0, 0]);
  assert.ok(sparseRows(x.subarray(width, 2 * width), 1, width) !== null, 'a text-only row takes the sparse path');
});

function checkGradients(spec: HeadSpec) {
  const head = GenreHead.create(spec, width, genres, new Random(1));
  // Forward on the sparse path equals the plain sums.
  const logits = head.forward(x, rows, new Random(2));
  const first = head.layers[0]!;
  if (spec.type === 'linear') {
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < genres; o++) {
        let sum = first.bias[o]!;
        for (let i = 0; i < width; i++) sum += x[r * width + i]! * first.weight[o * width + i]!;
        assert.ok(Math.abs(sum - logits[r * genres + o]!) < 1e-5);
      }
    }
  }
  const analytic = head.backward(computeLoss({ type: 'bce' }, logits, labels, rows, genres).grad);
  const lossOf = () => computeLoss({ type: 'bce' }, head.forward(x, rows), labels, rows, genres).loss;
  const h = 1e-3;
  head.parameters().forEach((param, k) => {
    // Every parameter of the small layers; a sample of the wide first layer, all of its non-zero columns included.
    const step = param.length > 400 ? 7 : 1;
    for (let i = 0; i < param.length; i += step) {
      const saved = param[i]!;
      param[i] = saved + h;
      const plus = lossOf();
      param[i] = saved - h;
      const minus = lossOf();
      param[i] = saved;
      const numeric = (plus - minus) / (2 * h);
      assert.ok(Math.abs(numeric - analytic[k]![i]!) <= 1e-3 + 0.02 * Math.abs(numeric), `${spec.type} param ${k}[${i}]: analytic ${analytic[k]![i]} vs numeric ${numeric}`);
    }
  });
}

test('concat MLP and linear gradients on sparse concatenated rows match finite differences', () => {
  checkGradients({ type: 'linear' });
  checkGradients({ type: 'mlp', hidden: 4, dropout: 0 });
});

test('fuseScores with a concat fusion scores the concatenated features of the inputs in use', () => {
  const head = GenreHead.create({ type: 'mlp', hidden: 4, dropout: 0 }, width, genres, new Random(3));
  const fusion = { type: 'concat' as const, center: [0, 0], ...shape, spec: head.spec, layers: head.layers };
  const f = rowFeatures[0]!;
  const logits = { image: new Float32Array(2), title: new Float32Array(2), plot: new Float32Array(2) };
  const expected = head.forward(concatFeatures(shape, f, 1, ['title', 'plot']), 1).map(sigmoid);
  assert.deepEqual(Array.from(fuseScores(fusion, logits, 1, ['title', 'plot'], f)), Array.from(expected));
});
