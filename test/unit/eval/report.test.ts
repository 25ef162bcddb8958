import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../../src/eval/decide.js';
import { ConfusionCounts, summarize } from '../../../src/eval/metrics.js';
import { evaluateScores, formatReport } from '../../../src/eval/report.js';

const close = (actual: number, expected: number, message?: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message ?? ''} expected ${expected}, got ${actual}`);
const u8 = (...v: number[]) => new Uint8Array(v);
const f32 = (...v: number[]) => new Float32Array(v);

/** 4 posters x 2 genres: A on rows 0-2, B on row 3, so the label prior is (0.75, 0.25). */
const tiny = {
  labels: u8(1, 0, /**/ 1, 0, /**/ 1, 0, /**/ 0, 1),
  scores: f32(0.8, 0.1, /**/ 0.6, 0.4, /**/ 0.2, 0.3, /**/ 0.1, 0.9),
  rows: 4,
  genres: ['Drama', 'Horror'],
};

test('evaluateScores: the policy\'s decisions at the top, the fixed-threshold table and per-genre rows', () => {
  const report = evaluateScores({ ...tiny, policy: { global: 0.5 } });
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
  // The policy's decisions are decide's: top-k and at-least-one included.
  const topOne = evaluateScores({ ...tiny, policy: { global: 0.05, topK: 1 } });
  assert.deepEqual(topOne.thresholds[3], { threshold: 'policy', ...summarize(new ConfusionCounts().add(decide(tiny.scores, 4, 2, { global: 0.05, topK: 1 }), tiny.labels, 4, 2)) });
  close(topOne.exactMatch, 0.75, 'the top genre is right on rows 0, 1 and 3');
  assert.deepEqual(report.perGenre[1], { genre: 'Horror', precision: 1, recall: 1, f1: 1, ap: 1, support: 1, predicted: 1 });
  assert.deepEqual(report.perGenre[0]!.support, 3);
});

test('prior baseline: constant prior scores, the best global threshold among prior values', () => {
  const report = evaluateScores({ ...tiny, policy: { global: 1 } });
  const { prior } = report.baselines;
  // Threshold 0.75: Drama everywhere -> TP 3 FP 1 FN 1, F1 0.75; threshold 0.25: both everywhere -> F1 8/12.
  assert.equal(prior.threshold, 0.75);
  close(prior.microF1, 0.75);
  close(prior.exactMatch, 0.75);
  close(prior.mAP, (0.75 + 0.25) / 2, 'AP of constant scores = positive rate');
  assert.equal(prior.description, 'label-frequency prior, best global threshold 0.750');

  // A training prior ranking Horror first: Horror only gives F1 2/8 < both (8/12).
  const skewed = evaluateScores({ ...tiny, policy: { global: 1 }, trainPrior: f32(0.2, 0.9) }).baselines.prior;
  assert.equal(skewed.threshold, Math.fround(0.2));
  close(skewed.microF1, 8 / 12);
  close(skewed.mAP, 0.5);

  // Prior (0.25, 0.25, 0.5): threshold 0.5 (TP 2 FP 2 FN 2) and 0.25 (TP 4 FP 8) both give F1 1/2; the higher wins.
  const tie = { labels: u8(1, 0, 0, /**/ 0, 0, 1, /**/ 0, 0, 1, /**/ 0, 1, 0), rows: 4, genres: ['A', 'B', 'C'] };
  const tied = evaluateScores({ ...tie, scores: new Float32Array(12), policy: { global: 1 } }).baselines.prior;
  assert.deepEqual([tied.threshold, tied.microF1], [0.5, 0.5]);
});

test('random baseline: threshold 0.5, deterministic for a seed', () => {
  const a = evaluateScores({ ...tiny, policy: { global: 1 }, seed: 7 }).baselines.random;
  const b = evaluateScores({ ...tiny, policy: { global: 1 }, seed: 7 }).baselines.random;
  const c = evaluateScores({ ...tiny, policy: { global: 1 }, seed: 8 }).baselines.random;
  assert.deepEqual(a, b);
  assert.notDeepEqual([a.mAP, a.microF1, a.exactMatch], [c.mAP, c.microF1, c.exactMatch]);
  assert.equal(a.threshold, 0.5);
  assert.equal(a.description, 'uniform random scores (seed 7), threshold 0.5');
  assert.ok(a.mAP > 0 && a.mAP <= 1);
});

test('formatReport: the thresholds table with both baselines, genres by support, 3 decimals', () => {
  const text = formatReport(evaluateScores({ ...tiny, policy: { global: 0.5 } }));
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
  const ok = { ...tiny, policy: { global: 1 } };
  assert.throws(() => evaluateScores({ ...ok, scores: new Float32Array(7) }), {
    code: 'INVALID_ARGUMENT',
    message: 'Expected 8 (4 rows x 2 genres) for scores.length but received number 7',
  });
  assert.throws(() => evaluateScores({ ...ok, labels: u8(1, 0, 2, 0, 1, 0, 0, 1) }), { message: 'Expected 0 or 1 for labels[2] but received number 2' });
  assert.throws(() => evaluateScores({ ...ok, scores: f32(0.1, NaN, 0, 0, 0, 0, 0, 0) }), { message: 'Expected a finite number for scores[1] but received number NaN' });
  assert.throws(() => evaluateScores({ ...ok, rows: 0 }), { message: 'Expected integer between 1 and 9007199254740991 for rows but received number 0' });
  assert.throws(() => evaluateScores({ ...ok, genres: [] }), { subject: 'genres' });
  assert.throws(() => evaluateScores({ ...ok, trainPrior: f32(0.5) }), { subject: 'trainPrior' });
  assert.throws(() => evaluateScores({ ...ok, seed: -1 }), { subject: 'seed' });
  assert.throws(() => evaluateScores({ ...ok, policy: { global: 1.5 } }), { message: 'Expected number between 0 and 1 for global but received number 1.5' });
  assert.throws(() => evaluateScores({ ...ok, policy: { global: 0.5, topK: 3 } }), { subject: 'topK' });
  assert.throws(() => new ConfusionCounts().add(u8(1, 0), u8(1, 0), 1, 2).add(u8(1), u8(1), 1, 1), {
    message: 'Expected 2 as in earlier batches for genres but received number 1',
  });
});
