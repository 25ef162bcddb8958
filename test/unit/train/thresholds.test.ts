import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../../src/eval/decide.js';
import { ConfusionCounts } from '../../../src/eval/metrics.js';
import { tuneThresholds } from '../../../src/train/thresholds.js';

const u8 = (...v: number[]) => new Uint8Array(v);
const f32 = (...v: number[]) => new Float32Array(v);
const close = (actual: number, expected: number, message?: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message ?? ''} expected ${expected}, got ${actual}`);

// Scores sit between grid points (x.xx5) so no case hinges on float rounding.

// One genre, six posters. Micro-F1 by threshold range (positives at 0.905, 0.805, 0.405):
//   (0.805, 0.905] 2/5   (0.605, 0.805] 4/5 (precision 1)   (0.405, 0.605] 4/6
//   (0.305, 0.405] 6/7 (precision 3/4)   (0.205, 0.305] 6/8   <= 0.205 6/9
const one = { scores: f32(0.905, 0.805, 0.605, 0.405, 0.305, 0.205), labels: u8(1, 1, 0, 1, 0, 0) };

test('global: the F1-maximising threshold, ties to the higher one', () => {
  const policy = tuneThresholds(one.scores, one.labels, 6, 1, { mode: 'global' });
  assert.equal(policy.global, 0.4); // 0.31..0.40 all give 6/7
  assert.equal(policy.perGenre, undefined);
  assert.deepEqual({ ...policy.tuned, validationMicroF1: +policy.tuned.validationMicroF1.toFixed(6) }, { mode: 'global', validationMicroF1: +(6 / 7).toFixed(6), fellBack: 0 });
  assert.equal(tuneThresholds(one.scores, one.labels, 6, 1, { mode: 'global', grid: [0.1, 0.5, 0.3] }).global, 0.3);
});

test('global: minPrecision is respected, and the most precise threshold is taken when none reaches it', () => {
  const strict = tuneThresholds(one.scores, one.labels, 6, 1, { mode: 'global', minPrecision: 0.9 });
  assert.equal(strict.global, 0.8); // best F1 with precision 1
  close(strict.tuned.validationMicroF1, 4 / 5);
  assert.equal(tuneThresholds(one.scores, one.labels, 6, 1, { mode: 'global', minPrecision: 0.75 }).global, 0.4, '3/4 reaches 0.75');
  // The top score is a negative: precision never exceeds 1/2.
  assert.equal(tuneThresholds(f32(0.905, 0.805), u8(0, 1), 2, 1, { mode: 'global', minPrecision: 0.9 }).global, 0.8);
});

test('global tuning measures the policy with its topK and atLeastOne', () => {
  // Each poster has one genre, and it always has the higher score, but some scores are low.
  const scores = f32(0.205, 0.105, /**/ 0.055, 0.155, /**/ 0.605, 0.305, /**/ 0.355, 0.455);
  const labels = u8(1, 0, /**/ 0, 1, /**/ 1, 0, /**/ 0, 1);
  const plain = tuneThresholds(scores, labels, 4, 2, { mode: 'global' });
  assert.equal(plain.global, 0.15); // TP 4, FP 2 -> 0.8
  close(plain.tuned.validationMicroF1, 0.8);
  // With atLeastOne, any threshold above 0.355 is perfect: the highest wins.
  const filled = tuneThresholds(scores, labels, 4, 2, { mode: 'global', atLeastOne: true });
  assert.deepEqual([filled.global, filled.atLeastOne, filled.tuned.validationMicroF1], [0.99, true, 1]);
  const top1 = tuneThresholds(scores, labels, 4, 2, { mode: 'global', topK: 1 });
  assert.deepEqual([top1.global, top1.topK, top1.tuned.validationMicroF1], [0.15, 1, 1]);
});

// 20 posters x 2 genres. Genre 0: scores 0.025..0.975, positive from 0.525 up (10 positives),
// perfectly separated by 0.48..0.52. Genre 1 is rare: 2 positives at 0.065 and 0.075, 18 negatives at 0.045.
const rare = (() => {
  const scores = new Float32Array(40);
  const labels = new Uint8Array(40);
  for (let r = 0; r < 20; r++) {
    scores[r * 2] = 0.025 + 0.05 * r;
    labels[r * 2] = r >= 10 ? 1 : 0;
    scores[r * 2 + 1] = r === 0 ? 0.065 : r === 1 ? 0.075 : 0.045;
    labels[r * 2 + 1] = r < 2 ? 1 : 0;
  }
  return { scores, labels };
})();

test('per-genre-f1: genres with enough positives get their own threshold, a rare genre falls back to global', () => {
  const policy = tuneThresholds(rare.scores, rare.labels, 20, 2, { mode: 'per-genre-f1' });
  assert.equal(policy.global, 0.52);
  assert.equal(policy.perGenre![0], 0.52);
  assert.ok(Number.isNaN(policy.perGenre![1]), `rare genre got ${policy.perGenre![1]}`);
  assert.equal(policy.tuned.fellBack, 1);
  close(policy.tuned.validationMicroF1, 20 / 22);
  // Without the guard the rare genre gets a threshold of 0.06, from two posters.
  const unguarded = tuneThresholds(rare.scores, rare.labels, 20, 2, { mode: 'per-genre-f1', minPositives: 1 });
  assert.deepEqual([unguarded.perGenre, unguarded.tuned.fellBack], [[0.52, 0.06], 0]);
});

test('per-genre-precision: the lowest threshold reaching the target precision, else global', () => {
  // Genre 0 at threshold t keeps posters from row k up: precision 10 / (20 - k) >= 0.75 from k = 7 (0.325 < t <= 0.375).
  const policy = tuneThresholds(rare.scores, rare.labels, 20, 2, { mode: 'per-genre-precision', targetPrecision: 0.75 });
  assert.equal(policy.perGenre![0], 0.33);
  assert.ok(Number.isNaN(policy.perGenre![1]));
  assert.equal(policy.tuned.fellBack, 1);
  const counts = new ConfusionCounts().add(decide(rare.scores, 20, 2, policy), rare.labels, 20, 2);
  assert.ok(counts.precision(0) >= 0.75 && counts.precision(0) < 0.8, `precision ${counts.precision(0)}`);
  assert.equal(counts.predicted(0), 13);

  const both = tuneThresholds(rare.scores, rare.labels, 20, 2, { mode: 'per-genre-precision', targetPrecision: 0.75, minPositives: 2 });
  assert.deepEqual(both.perGenre, [0.33, 0.05]);
  // A target no threshold reaches keeps global.
  const unreachable = tuneThresholds(f32(0.905, 0.805), u8(0, 1), 2, 1, { mode: 'per-genre-precision', targetPrecision: 1, minPositives: 1 });
  assert.ok(Number.isNaN(unreachable.perGenre![0]));
  assert.equal(unreachable.tuned.fellBack, 1);
});

test('BAD CALL - tuneThresholds options name the parameter', () => {
  const tune = (options: object) => () => tuneThresholds(rare.scores, rare.labels, 20, 2, options as never);
  assert.throws(tune({ mode: 'best' }), {
    code: 'INVALID_ARGUMENT',
    message: 'Expected one of "global", "per-genre-f1", "per-genre-precision" for mode but received string "best"',
  });
  assert.throws(tune({ mode: 'per-genre-precision' }), { subject: 'targetPrecision', message: /^Expected number in \(0, 1\] for targetPrecision but received nothing/ });
  assert.throws(tune({ mode: 'per-genre-precision', targetPrecision: 0 }), { message: 'Expected number in (0, 1] for targetPrecision but received number 0' });
  assert.throws(tune({ mode: 'global', topK: 0 }), { message: 'Expected integer between 1 and 2 for topK but received number 0' });
  assert.throws(tune({ mode: 'global', topK: 1.5 }), { subject: 'topK' });
  assert.throws(tune({ mode: 'global', grid: [0.5, 1.2] }), { message: 'Expected number between 0 and 1 for grid[1] but received number 1.2' });
  assert.throws(tune({ mode: 'global', grid: [] }), { subject: 'grid' });
  assert.throws(tune({ mode: 'global', minPrecision: 2 }), { subject: 'minPrecision' });
  assert.throws(tune({ mode: 'per-genre-f1', minPositives: -1 }), { subject: 'minPositives' });
  assert.throws(() => tuneThresholds(rare.scores, rare.labels, 20, 3, { mode: 'global' }), { message: 'Expected 60 (20 rows x 3 genres) for scores.length but received number 40' });
});
