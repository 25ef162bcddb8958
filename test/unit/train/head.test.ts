import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW } from '../../../src/train/adamw.js';
import { type HeadSpec, type SparseRows, headScores, pickRows, sparseRows, standardize } from '../../../src/model/head.js';
import { GenreHead } from '../../../src/train/head.js';
import { type LossSpec, computeLoss, parseLoss, positiveWeights } from '../../../src/train/loss.js';
import { Random } from '../../../src/random.js';
import { fitStandardizer } from '../../../src/train/standardize.js';

const rows = 3;
const inputs = 4;
const genres = 3;
const random = new Random(7);
const x = Float32Array.from({ length: rows * inputs }, () => random.normal());
const labels = new Uint8Array([1, 0, 1, 0, 0, 1, 1, 1, 0]);

/** Loss as a function of every parameter, in float64 via the same code path. */
function lossOf(head: GenreHead, loss: LossSpec): number {
  return computeLoss(loss, head.forward(x, rows), labels, rows, genres).loss;
}

function checkGradients(spec: HeadSpec, loss: LossSpec) {
  const head = GenreHead.create(spec, inputs, genres, new Random(1));
  // Dropout off for the check: the mask must be the same in every evaluation.
  const logits = head.forward(x, rows, new Random(2));
  const analytic = head.backward(computeLoss(loss, logits, labels, rows, genres).grad);
  const h = 1e-3;
  head.parameters().forEach((param, k) => {
    for (let i = 0; i < param.length; i++) {
      const saved = param[i]!;
      param[i] = saved + h;
      const plus = lossOf(head, loss);
      param[i] = saved - h;
      const minus = lossOf(head, loss);
      param[i] = saved;
      const numeric = (plus - minus) / (2 * h);
      const a = analytic[k]![i]!;
      assert.ok(Math.abs(numeric - a) <= 1e-3 + 0.02 * Math.abs(numeric), `${spec.type}/${loss.type} param ${k}[${i}]: analytic ${a} vs numeric ${numeric}`);
    }
  });
}

for (const loss of [
  { type: 'bce' },
  { type: 'bce', positiveWeights: new Float32Array([2, 1, 3]) },
  { type: 'focal', gamma: 2 },
  { type: 'asymmetric', gammaPositive: 1, gammaNegative: 3, margin: 0.05 },
] as LossSpec[]) {
  test(`linear head gradients match finite differences (${loss.type}${'positiveWeights' in loss && loss.positiveWeights ? ', weighted' : ''})`, () =>
    checkGradients({ type: 'linear' }, loss));
}

test('MLP head gradients match finite differences', () => {
  checkGradients({ type: 'mlp', hidden: 5, dropout: 0 }, { type: 'bce' });
  checkGradients({ type: 'mlp', hidden: 5, dropout: 0 }, { type: 'focal', gamma: 2 });
});

test('BCE of a zero logit is log 2 whatever the label; large logits do not overflow', () => {
  const r = computeLoss({ type: 'bce' }, new Float32Array([0, 0]), new Uint8Array([1, 0]), 1, 2);
  assert.ok(Math.abs(r.loss - Math.LN2) < 1e-7);
  const big = computeLoss({ type: 'bce' }, new Float32Array([1000, -1000]), new Uint8Array([0, 1]), 1, 2);
  assert.ok(Math.abs(big.loss - 1000) < 1e-6);
  assert.ok(Number.isFinite(big.grad[0]!) && Number.isFinite(big.grad[1]!));
});

test('positive weights favour rare genres, capped', () => {
  const y = new Uint8Array([1, 1, 0, 1, 0, 1, 0, 0]); // 4 rows x 2 genres: genre 0 has 1 positive, genre 1 has 3
  const w = positiveWeights(y, 4, 2, 10);
  assert.ok(Math.abs(w[0]! - Math.sqrt(3)) < 1e-6);
  assert.equal(w[1], 1, 'a frequent genre is not down-weighted');
  assert.equal(positiveWeights(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 10, 1, 2)[0], 2);
});

test('BAD CALL - unknown loss and MLP settings name the parameter', () => {
  assert.throws(() => parseLoss('hinge'), /Expected one of bce, bce-weighted, focal, asymmetric for loss but received string "hinge"/);
  assert.throws(() => GenreHead.create({ type: 'mlp', hidden: 0, dropout: 0 }, 4, 2, new Random(0)), /for hidden/);
  assert.throws(() => GenreHead.create({ type: 'mlp', hidden: 4, dropout: 1 }, 4, 2, new Random(0)), /for dropout/);
});

test('AdamW decays weights but not biases', () => {
  const weight = new Float32Array([1]);
  const bias = new Float32Array([1]);
  const optimizer = new AdamW([weight, bias], [true, false], { learningRate: 0.1, weightDecay: 0.5 });
  optimizer.update([new Float32Array([0]), new Float32Array([0])]);
  assert.ok(Math.abs(weight[0]! - 0.95) < 1e-6);
  assert.equal(bias[0], 1);
});

test('standardisation gives zero mean, unit variance on the rows it was fitted on', () => {
  const data = new Float32Array([1, 10, 3, 30, 5, 50]);
  const s = fitStandardizer(data, 3);
  const z = standardize(s, data);
  for (const d of [0, 1]) {
    const values = [z[d]!, z[2 + d]!, z[4 + d]!];
    assert.ok(Math.abs(values.reduce((a, b) => a + b) / 3) < 1e-6);
    assert.ok(Math.abs(values.reduce((a, b) => a + b * b, 0) / 3 - 1) < 1e-5);
  }
});

test('training without dropout and inference run the same forward pass', () => {
  for (const spec of [{ type: 'linear' }, { type: 'mlp', hidden: 5, dropout: 0 }, { type: 'mlp', hidden: 5, dropout: 0.5 }] as const) {
    const head = GenreHead.create(spec, inputs, genres, new Random(4));
    const inference = headScores(head, x, rows);
    // With dropout the training pass differs (that is the point); at 0 it must not.
    const training = head.forward(x, rows, new Random(5)).map((z) => 1 / (1 + Math.exp(-z)));
    if (spec.type === 'mlp' && spec.dropout > 0) assert.notDeepEqual(Array.from(training), Array.from(inference));
    else assert.deepEqual(Array.from(training, (v) => v.toFixed(6)), Array.from(inference, (v) => v.toFixed(6)));
  }
});

/** [rows x width] with a few non-zeros per row (TF-IDF-like), one all-zero row, and one row a third non-zero. */
function sparseMatrix(rowsN: number, width: number, seed: number): Float32Array {
  const r = new Random(seed);
  const m = new Float32Array(rowsN * width);
  for (let n = 0; n < rowsN; n++) {
    if (n === 1) continue;
    const count = n === 2 ? Math.floor(width / 3) : 1 + Math.floor(r.next() * 12);
    for (let k = 0; k < count; k++) m[n * width + Math.floor(r.next() * width)] = r.normal();
  }
  return m;
}

test('sparseRows keeps every non-zero in order, pickRows takes rows in the order given, and a dense matrix stays dense', () => {
  const width = 300;
  const m = sparseMatrix(6, width, 3);
  const s = sparseRows(m, 6, width)!;
  assert.ok(s, 'sparse enough');
  const back = new Float32Array(m.length);
  for (let n = 0; n < 6; n++) for (let k = s.offsets[n]!; k < s.offsets[n + 1]!; k++) back[n * width + s.columns[k]!] = s.values[k]!;
  assert.deepEqual(back, m);
  const picked = pickRows(s, [9, 4, 0, 4], 1, 3);
  assert.equal(picked.rows, 3);
  const row = (t: typeof s, n: number) => [...t.columns.subarray(t.offsets[n]!, t.offsets[n + 1]!)];
  assert.deepEqual([row(picked, 0), row(picked, 1), row(picked, 2)], [row(s, 4), row(s, 0), row(s, 4)]);
  assert.equal(sparseRows(Float32Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 1 : 0)), 2, 300), null, 'a third non-zero is dense');
});

for (const spec of [{ type: 'linear' }, { type: 'mlp', hidden: 16, dropout: 0.2 }] as HeadSpec[]) {
  test(`${spec.type} head: sparse rows give exactly the dense logits and gradients`, () => {
    const width = 512;
    const n = 7;
    const m = sparseMatrix(n, width, 11);
    const y = Uint8Array.from({ length: n * genres }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const run = (input: Float32Array | SparseRows) => {
      const head = GenreHead.create(spec, width, genres, new Random(5));
      // Training weights are not all zero: move them off the prior start first.
      head.parameters().forEach((p, k) => p.forEach((_, i) => (p[i] = Math.sin(i * 0.37 + k))));
      const logits = head.forward(input, n, new Random(9));
      const grads = head.backward(computeLoss({ type: 'bce' }, logits, y, n, genres).grad);
      return { logits, grads, inference: head.forward(input, n) };
    };
    const dense = run(m);
    const sparse = run(sparseRows(m, n, width)!);
    assert.deepEqual(sparse.logits, dense.logits);
    assert.deepEqual(sparse.inference, dense.inference);
    sparse.grads.forEach((g, k) => assert.deepEqual(g, dense.grads[k], `gradient ${k}`));
  });
}
