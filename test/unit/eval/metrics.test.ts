import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AveragePrecision,
  ConfusionCounts,
  averagePrecision,
  decide,
  decisionMetric,
  evaluate,
  formatReport,
  meanAveragePrecision,
  summarize,
} from '../../../src/eval/metrics.js';

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
  const m = meanAveragePrecision();
  m.accumulate(scores.subarray(0, 6), lab.subarray(0, 6), 2, 3);
  m.accumulate(scores.subarray(6), lab.subarray(6), 2, 3);
  assert.equal(m.name, 'mAP');
  close(m.value(), (5 / 6 + 1 / 2) / 2);
  assert.equal(m.skipped(), 1);
  m.reset();
  m.accumulate(f32(0.1, 0.9), u8(0, 1), 2, 1);
  assert.equal(m.value(), 1);
});

test('decide: one global threshold or one per genre; a score equal to its threshold passes', () => {
  const scores = f32(0.4, 0.6, /**/ 0.2, 0.9, /**/ 0.5, 0.3);
  assert.deepEqual(decide(scores, 3, 2, 0.5), u8(0, 1, 0, 1, 1, 0));
  assert.deepEqual(decide(scores, 3, 2, f32(0.3, 0.95)), u8(1, 0, 0, 0, 1, 0));
  assert.deepEqual(decide(f32(0.3), 1, 1, 0.3), u8(1), 'float32 0.3 passes the threshold 0.3');
});

test('decision metric objects decide, accumulate and read one number', () => {
  const m = decisionMetric('microF1', 0.5);
  m.accumulate(f32(0.9, 0.2, 0.6, 0.7), u8(1, 0, 0, 1), 2, 2);
  assert.equal(m.name, 'microF1');
  close(m.value(), 0.8); // TP 2, FP 1, FN 0
  const exact = decisionMetric('exactMatch', () => predicted);
  exact.accumulate(new Float32Array(12), labels, 4, 3);
  assert.equal(exact.value(), 0.5);
  exact.reset();
  assert.equal(exact.value(), 0);
});

/** 4 posters x 2 genres: A on rows 0-2, B on row 3, so the label prior is (0.75, 0.25). */
const tiny = {
  labels: u8(1, 0, /**/ 1, 0, /**/ 1, 0, /**/ 0, 1),
  scores: f32(0.8, 0.1, /**/ 0.6, 0.4, /**/ 0.2, 0.3, /**/ 0.1, 0.9),
  rows: 4,
  genres: ['Drama', 'Horror'],
};

test('evaluate: policy metrics at the top, the fixed-threshold table and per-genre rows', () => {
  const report = evaluate({ ...tiny, predicted: u8(1, 0, /**/ 1, 0, /**/ 0, 0, /**/ 0, 1) });
  assert.equal(report.rows, 4);
  close(report.precision, 1);
  close(report.recall, 0.75);
  close(report.exactMatch, 0.75);
  // Drama: scores 0.8 0.6 0.2 0.1 with labels 1 1 1 0 -> AP 1; Horror: 0.9 ranks first -> AP 1.
  assert.equal(report.mAP, 1);
  assert.equal(report.genresWithoutPositives, 0);
  assert.deepEqual(report.thresholds.map((t) => t.threshold), [0.3, 0.5, 0.7, 'policy']);
  // At 0.3: Drama on rows 0 and 1, Horror on rows 1, 2 (0.3 passes) and 3 -> TP 3, FP 2, FN 1.
  close(report.thresholds[0]!.microF1, 6 / 9);
  close(report.thresholds[0]!.exactMatch, 0.5); // rows 0 and 3
  assert.deepEqual(report.thresholds[3], { threshold: 'policy', ...summarize(new ConfusionCounts().add(u8(1, 0, 1, 0, 0, 0, 0, 1), tiny.labels, 4, 2)) });
  assert.deepEqual(report.perGenre[1], { genre: 'Horror', precision: 1, recall: 1, f1: 1, ap: 1, support: 1, predicted: 1 });
  assert.deepEqual(report.perGenre[0]!.support, 3);
});

test('prior baseline: constant prior scores, the best global threshold among prior values', () => {
  const report = evaluate({ ...tiny, predicted: new Uint8Array(8) });
  const { prior } = report.baselines;
  // Threshold 0.75: Drama everywhere -> TP 3 FP 1 FN 1, F1 0.75; threshold 0.25: both everywhere -> F1 8/12.
  assert.equal(prior.threshold, 0.75);
  close(prior.microF1, 0.75);
  close(prior.exactMatch, 0.75);
  close(prior.mAP, (0.75 + 0.25) / 2, 'AP of constant scores = positive rate');
  assert.equal(prior.description, 'label-frequency prior, best global threshold 0.750');

  // A training prior ranking Horror first: Horror only gives F1 2/8 < both (8/12).
  const skewed = evaluate({ ...tiny, predicted: new Uint8Array(8), trainPrior: f32(0.2, 0.9) }).baselines.prior;
  assert.equal(skewed.threshold, Math.fround(0.2));
  close(skewed.microF1, 8 / 12);
  close(skewed.mAP, 0.5);

  // Prior (0.25, 0.25, 0.5): threshold 0.5 (TP 2 FP 2 FN 2) and 0.25 (TP 4 FP 8) both give F1 1/2; the higher wins.
  const tie = { labels: u8(1, 0, 0, /**/ 0, 0, 1, /**/ 0, 0, 1, /**/ 0, 1, 0), rows: 4, genres: ['A', 'B', 'C'] };
  const tied = evaluate({ ...tie, scores: new Float32Array(12), predicted: new Uint8Array(12) }).baselines.prior;
  assert.deepEqual([tied.threshold, tied.microF1], [0.5, 0.5]);
});

test('random baseline: threshold 0.5, deterministic for a seed', () => {
  const a = evaluate({ ...tiny, predicted: new Uint8Array(8), seed: 7 }).baselines.random;
  const b = evaluate({ ...tiny, predicted: new Uint8Array(8), seed: 7 }).baselines.random;
  const c = evaluate({ ...tiny, predicted: new Uint8Array(8), seed: 8 }).baselines.random;
  assert.deepEqual(a, b);
  assert.notDeepEqual([a.mAP, a.microF1, a.exactMatch], [c.mAP, c.microF1, c.exactMatch]);
  assert.equal(a.threshold, 0.5);
  assert.equal(a.description, 'uniform random scores (seed 7), threshold 0.5');
  assert.ok(a.mAP > 0 && a.mAP <= 1);
});

test('formatReport: the thresholds table with both baselines, genres by support, 3 decimals', () => {
  const text = formatReport(evaluate({ ...tiny, predicted: u8(1, 0, 1, 0, 0, 0, 0, 1) }));
  const lines = text.split('\n');
  for (const label of ['threshold 0.3', 'threshold 0.5', 'threshold 0.7', 'policy', 'prior baseline @0.750', 'random baseline @0.500']) {
    assert.ok(lines.some((l) => l.startsWith(label)), `row ${label} in\n${text}`);
  }
  assert.match(text, /^4 posters, 2 genres; mAP 1\.000 over 2 genres \(0 without positives skipped\)/);
  assert.match(text, /decision +exact +precision +recall +micro-F1 +macro-F1 +F0\.5 +mAP/);
  assert.match(text, /^policy +0\.750 +1\.000 +0\.750 +0\.857 +0\.900 +0\.938 +1\.000$/m);
  assert.ok(text.indexOf('\nDrama') < text.indexOf('\nHorror'), 'sorted by support');
  assert.match(text, /^Drama +3 +2 +1\.000 +0\.667 +0\.800 +1\.000$/m);
  assert.doesNotMatch(text, /\x1b\[/);
});

test('BAD CALL - matrices of the wrong size or content name the parameter', () => {
  const ok = { ...tiny, predicted: new Uint8Array(8) };
  assert.throws(() => evaluate({ ...ok, scores: new Float32Array(7) }), {
    code: 'INVALID_ARGUMENT',
    message: 'Expected 8 (4 rows x 2 genres) for scores.length but received number 7',
  });
  assert.throws(() => evaluate({ ...ok, labels: u8(1, 0, 2, 0, 1, 0, 0, 1) }), { message: 'Expected 0 or 1 for labels[2] but received number 2' });
  assert.throws(() => evaluate({ ...ok, scores: f32(0.1, NaN, 0, 0, 0, 0, 0, 0) }), { message: 'Expected a finite number for scores[1] but received number NaN' });
  assert.throws(() => evaluate({ ...ok, rows: 0 }), { message: 'Expected integer between 1 and 9007199254740991 for rows but received number 0' });
  assert.throws(() => evaluate({ ...ok, genres: [] }), { subject: 'genres' });
  assert.throws(() => evaluate({ ...ok, trainPrior: f32(0.5) }), { subject: 'trainPrior' });
  assert.throws(() => evaluate({ ...ok, seed: -1 }), { subject: 'seed' });
  assert.throws(() => decide(tiny.scores, 4, 2, 1.5), { message: 'Expected number between 0 and 1 for threshold but received number 1.5' });
  assert.throws(() => decide(tiny.scores, 4, 2, f32(0.5)), { subject: 'threshold' });
  assert.throws(() => new ConfusionCounts().add(u8(1, 0), u8(1, 0), 1, 2).add(u8(1), u8(1), 1, 1), {
    message: 'Expected 2 as in earlier batches for genres but received number 1',
  });
});
