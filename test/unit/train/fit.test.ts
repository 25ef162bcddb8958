import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headScores } from '../../../src/model/head.js';
import { fitHead } from '../../../src/train/fit.js';
import { Random } from '../../../src/random.js';

/** Two informative dimensions, one genre each, plus noise dimensions. */
function synthetic(rows: number, seed: number) {
  const random = new Random(seed);
  const inputs = 6;
  const x = new Float32Array(rows * inputs);
  const y = new Uint8Array(rows * 2);
  for (let n = 0; n < rows; n++) {
    for (let d = 0; d < inputs; d++) x[n * inputs + d] = random.normal();
    y[n * 2] = x[n * inputs]! > 0.3 ? 1 : 0;
    y[n * 2 + 1] = x[n * inputs + 1]! + 0.2 * random.normal() > 0 ? 1 : 0;
  }
  return { x, y, rows };
}

const accuracy = (scores: Float32Array, labels: Uint8Array) => {
  let right = 0;
  for (let i = 0; i < scores.length; i++) right += (scores[i]! > 0.5 ? 1 : 0) === labels[i] ? 1 : 0;
  return right / scores.length;
};
const validationMetrics = (scores: Float32Array, labels: Uint8Array) => ({ microF1: accuracy(scores, labels), mAP: 0 });

test('a linear head learns a separable problem, stops early and restores its best epoch', () => {
  const train = synthetic(600, 1);
  const validation = synthetic(200, 2);
  const result = fitHead(train, validation, 2, {
    head: { type: 'linear' },
    loss: { type: 'bce' },
    learningRate: 0.05,
    batchSize: 64,
    patience: 3,
    maxEpochs: 300,
    validationMetrics,
  });
  assert.ok(result.history.length < 300, 'early stopping ended training');
  const best = result.history[result.bestEpoch - 1]!;
  assert.equal(Math.min(...result.history.map((h) => h.validationLoss)), best.validationLoss);
  // The returned head is the best epoch's, not the last one's.
  const scores = headScores(result.head, validation.x, validation.rows);
  assert.ok(accuracy(scores, validation.y) > 0.93, `accuracy ${accuracy(scores, validation.y)}`);
  assert.ok(Math.abs(accuracy(scores, validation.y) - best.validationMicroF1) < 1e-9);
});

test('training is deterministic for a seed, and differs across seeds', () => {
  const train = synthetic(200, 3);
  const validation = synthetic(50, 4);
  const run = (seed: number) =>
    headScores(
      fitHead(train, validation, 2, { head: { type: 'mlp', hidden: 8, dropout: 0.2 }, loss: { type: 'bce' }, maxEpochs: 5, seed, validationMetrics }).head,
      validation.x,
      validation.rows,
    );
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
});

test('BAD CALL - validation features of the wrong width', () => {
  const train = synthetic(20, 5);
  assert.throws(
    () => fitHead(train, { x: new Float32Array(10), y: new Uint8Array(4), rows: 2 }, 2, { head: { type: 'linear' }, loss: { type: 'bce' }, validationMetrics }),
    /for validation\.x/,
  );
});
