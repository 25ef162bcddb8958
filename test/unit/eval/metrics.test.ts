import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AveragePrecision, ConfusionCounts, averagePrecision, labelPrior, summarize } from '../../../src/eval/metrics.js';

const close = (actual: number, expected: number, message?: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message ?? ''} expected ${expected}, got ${actual}`);
const u8 = (...v: number[]) => new Uint8Array(v);
const f32 = (...v: number[]) => new Float32Array(v);

// 4 posters x 3 genres (A, B, C), counted by hand:
//   A: labels 1 0 1 0, predicted 1 0 1 0 -> TP 2 FP 0 FN 0 -> P 1   R 1 F1 1
//   B: labels 0 1 0 0, predicted 1 1 0 0 -> TP 1 FP 1 FN 0 -> P 1/2 R 1 F1 2/3
//   C: labels 1 0 0 0, predicted 0 1 0 0 -> TP 0 FP 1 FN 1 -> P 0   R 0 F1 0
//   micro: TP 3 FP 2 FN 1 -> P 3/5, R 3/4, F1 6/9, F0.5 = 1.25*3 / (1.25*3 + 0.25*1 + 2) = 0.625
//   exact: rows 2 and 3 (row 3: both empty) -> 1/2
const labels = u8(1, 0, 1, /**/ 0, 1, 0, /**/ 1, 0, 0, /**/ 0, 0, 0);
const predicted = u8(1, 1, 0, /**/ 0, 1, 1, /**/ 1, 0, 0, /**/ 0, 0, 0);

test('confusion counts and every decision metric on a hand-counted 4x3 example', () => {
  const c = new ConfusionCounts().add(predicted, labels, 4, 3);
  assert.deepEqual([...c.tp, ...c.fp, ...c.fn, ...c.tn], [2, 1, 0, /**/ 0, 1, 1, /**/ 0, 0, 1, /**/ 2, 2, 2]);
  assert.deepEqual([0, 1, 2].map((g) => [c.precision(g), c.recall(g), c.support(g), c.predicted(g)]), [
    [1, 1, 2, 2],
    [0.5, 1, 1, 2],
    [0, 0, 1, 1],
  ]);
  close(c.f1(1), 2 / 3);
  const m = summarize(c);
  close(m.precision, 3 / 5, 'precision');
  close(m.recall, 3 / 4, 'recall');
  close(m.microF1, 2 / 3, 'micro-F1');
  close(m.f05, 0.625, 'F0.5');
  close(m.macroF1, 5 / 9, 'macro-F1');
  close(m.exactMatch, 0.5, 'exact match');
});

test('counts accumulate over batches and reset', () => {
  const c = new ConfusionCounts().add(predicted.subarray(0, 6), labels.subarray(0, 6), 2, 3).add(predicted.subarray(6), labels.subarray(6), 2, 3);
  assert.deepEqual(summarize(c), summarize(new ConfusionCounts().add(predicted, labels, 4, 3)));
  c.reset().add(u8(1, 0, 0), u8(1, 0, 0), 1, 3);
  assert.deepEqual([c.rows, c.exactRows, c.microFBeta(1)], [1, 1, 1]);
});

test('a genre with no positives: left out of macro-F1 unless predicted, AP null, skipped by mAP', () => {
  // Add genre D with no positives to the 4x3 example.
  const withD = (p: Uint8Array) => Uint8Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 0 : p[Math.floor(i / 4) * 3 + (i % 4)]!));
  const lab = withD(labels);
  const quiet = withD(predicted);
  close(new ConfusionCounts().add(quiet, lab, 4, 4).macroF1(), 5 / 9, 'D neither labelled nor predicted');
  const noisy = quiet.slice();
  noisy[3] = 1; // one false positive for D: it now counts, with F1 0
  close(new ConfusionCounts().add(noisy, lab, 4, 4).macroF1(), 5 / 12, 'D predicted once');
  assert.equal(new ConfusionCounts().add(u8(0, 0), u8(0, 0), 1, 2).macroF1(), 0);

  const scores = Float32Array.from(lab, (l, i) => (l ? 0.9 : 0.1) + i / 100);
  const ap = new AveragePrecision().add(scores, lab, 4, 4);
  assert.equal(ap.perGenre()[3], null);
  assert.deepEqual(ap.mean(), { mAP: 1, skipped: 1 });
});

test('average precision matches sklearn: known ranking, tied scores, constant scores', () => {
  close(averagePrecision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])!, (1 + 2 / 3) / 2);
  close(averagePrecision([0.6, 0.7, 0.8, 0.9], [0, 1, 0, 1])!, (1 + 2 / 3) / 2, 'order of rows is irrelevant');
  close(averagePrecision([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 0])!, 1);
  // The positive and a negative tie at 0.8: one threshold with P = 2/3 at R = 1,
  // not 1.0 (positive first) -> 1/2 * 1 + 1/2 * 2/3.
  close(averagePrecision([0.9, 0.8, 0.8, 0.6], [1, 1, 0, 0])!, 5 / 6);
  close(averagePrecision([0.9, 0.8, 0.8, 0.6], [1, 0, 1, 0])!, 5 / 6);
  close(averagePrecision([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1])!, 0.5, 'constant scores -> positive rate');
  assert.equal(averagePrecision([0.3, 0.2], [0, 0]), null);
});

test('mAP averages genres with positives and reports the skipped ones', () => {
  // Column 0: AP 5/6; column 1: constant scores with positive rate 1/2; column 2: no positives.
  const scores = f32(0.9, 0.5, 0.1, /**/ 0.8, 0.5, 0.2, /**/ 0.7, 0.5, 0.3, /**/ 0.6, 0.5, 0.4);
  const lab = u8(1, 1, 0, /**/ 0, 0, 0, /**/ 1, 0, 0, /**/ 0, 1, 0);
  const m = new AveragePrecision().add(scores.subarray(0, 6), lab.subarray(0, 6), 2, 3).add(scores.subarray(6), lab.subarray(6), 2, 3);
  close(m.mean().mAP, (5 / 6 + 1 / 2) / 2);
  assert.equal(m.mean().skipped, 1);
  assert.equal(m.reset().add(f32(0.1, 0.9), u8(0, 1), 2, 1).mean().mAP, 1);
});

test('labelPrior: each genre\'s positive rate, exact (counted, then divided once)', () => {
  assert.deepEqual(labelPrior(labels, 4, 3), f32(0.5, 0.25, 0.25));
  // 2,398 positives in 4,787 rows (Drama in the default model's training split):
  // summing 1/4787 in float32 drifted to 0.500923; the exact rate is 0.500940.
  const many = new Uint8Array(4787).fill(1, 0, 2398);
  assert.equal(labelPrior(many, 4787, 1)[0], Math.fround(2398 / 4787));
  assert.ok(labelPrior(new Uint8Array(3).fill(1), 3, 1)[0]! <= 1);
  assert.throws(() => labelPrior(u8(1, 2), 1, 2), { subject: 'labels[1]' });
});
