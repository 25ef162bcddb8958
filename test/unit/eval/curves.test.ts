/**
 * The report's chart data against values computed by hand on tiny data sets:
 * a PR curve, a confusion row, co-occurrence, a calibration bin, a sweep
 * point, the mistakes gallery and the baselines' per-genre values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  calibration,
  confidentMistakes,
  evaluationCharts,
  genreConfusion,
  genreCounts,
  labelCooccurrence,
  precisionRecallCurve,
  thresholdSweep,
} from '../../../src/eval/curves.js';
import { decide } from '../../../src/eval/decide.js';
import { evaluateScores } from '../../../src/eval/report.js';
import { isError } from '../../helpers/errors.js';

const close = (actual: number, expected: number, message?: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${message ?? ''} expected ${expected}, got ${actual}`);
const u8 = (...v: number[]) => new Uint8Array(v);
const f32 = (...v: number[]) => new Float32Array(v);

/**
 * 5 posters x 3 genres (Drama, Horror, Comedy).
 *   row 0: true {Drama, Horror}  scores 0.9 0.6 0.1
 *   row 1: true {Drama}          scores 0.7 0.8 0.2
 *   row 2: true {Horror}         scores 0.2 0.7 0.6
 *   row 3: true {Comedy}         scores 0.4 0.1 0.3
 *   row 4: true {Drama, Comedy}  scores 0.3 0.2 0.9
 * At threshold 0.5 the model predicts row 0 {D, H}, row 1 {D, H}, row 2 {H, C}, row 3 {}, row 4 {C}.
 */
const genres = ['Drama', 'Horror', 'Comedy'];
const labels = u8(1, 1, 0, /**/ 1, 0, 0, /**/ 0, 1, 0, /**/ 0, 0, 1, /**/ 1, 0, 1);
const scores = f32(0.9, 0.6, 0.1, /**/ 0.7, 0.8, 0.2, /**/ 0.2, 0.7, 0.6, /**/ 0.4, 0.1, 0.3, /**/ 0.3, 0.2, 0.9);
const rows = 5;
const policy = { global: 0.5 };

test('precisionRecallCurve: one point per distinct score from the top, starting at (recall 0, precision 1)', () => {
  // Drama: scores 0.9(1) 0.7(1) 0.4(0) 0.3(1) 0.2(0), 3 positives.
  const drama = precisionRecallCurve([0.9, 0.7, 0.2, 0.4, 0.3], [1, 1, 0, 0, 1]);
  const expected = [
    [1, 1, 0],
    [0.9, 1, 1 / 3],
    [0.7, 1, 2 / 3],
    [0.4, 2 / 3, 2 / 3],
    [0.3, 3 / 4, 1],
    [0.2, 3 / 5, 1],
  ];
  assert.equal(drama.length, expected.length);
  drama.forEach((p, i) => {
    close(p.threshold, expected[i]![0]!, `threshold ${i}`);
    close(p.precision, expected[i]![1]!, `precision ${i}`);
    close(p.recall, expected[i]![2]!, `recall ${i}`);
  });
  // Equal scores are one point; no positives, no curve.
  assert.deepEqual(precisionRecallCurve([0.5, 0.5], [1, 0]).map((p) => [p.precision, p.recall]), [[1, 0], [0.5, 1]]);
  assert.deepEqual(precisionRecallCurve([0.5, 0.4], [0, 0]), []);
  // Thinned to maxPoints, first and last kept.
  const long = precisionRecallCurve(Array.from({ length: 50 }, (_, i) => 1 - i / 50), Array.from({ length: 50 }, (_, i) => i % 2), 10);
  assert.equal(long.length, 10);
  assert.deepEqual(long[0], { threshold: 1, precision: 1, recall: 0 });
  close(long[9]!.recall, 1);
});

test('genreConfusion: a row counts genres predicted on a genre\'s posters that they do not have; the diagonal is recall', () => {
  const predicted = decide(scores, rows, 3, policy);
  assert.deepEqual(Array.from(predicted), [1, 1, 0, /**/ 1, 1, 0, /**/ 0, 1, 1, /**/ 0, 0, 0, /**/ 0, 0, 1]);
  const { counts, rates, support } = genreConfusion(predicted, labels, rows, 3);
  assert.deepEqual(support, [3, 2, 2]);
  // Drama's posters (rows 0, 1, 4): Drama found on rows 0 and 1; Horror predicted on row 1 (not a Horror poster) but
  // also on row 0, which IS a Horror poster (co-occurrence, not confusion); Comedy predicted on row 4, which is a Comedy poster.
  assert.deepEqual(counts[0], [2, 1, 0]);
  assert.deepEqual(rates[0], [2 / 3, 1 / 3, 0]);
  // Horror's posters (rows 0, 2): Horror found on both; Comedy wrongly on row 2.
  assert.deepEqual(rates[1], [0, 1, 0.5]);
  // Comedy's posters (rows 3, 4): found on row 4 only.
  assert.deepEqual(rates[2], [0, 0, 0.5]);
});

test('labelCooccurrence: rows normalised by the genre\'s support', () => {
  const { counts, rates } = labelCooccurrence(labels, rows, 3);
  assert.deepEqual(counts, [[3, 1, 1], [1, 2, 0], [1, 0, 2]]);
  assert.deepEqual(rates[0], [1, 1 / 3, 1 / 3]);
  assert.deepEqual(rates[2], [0.5, 0, 1]);
  assert.deepEqual(genreCounts(labels, rows, 3), [3, 2, 2]);
});

test('calibration: bins hold mean score and positive rate; ECE weighs the gaps by bin size', () => {
  const { bins, ece } = calibration(scores, labels, rows, 3, 5);
  // Bin [0.6, 0.8): scores 0.6 (row 0 Horror, true), 0.7 (row 1 Drama, true), 0.7 (row 2 Horror, true), 0.6 (row 2 Comedy, false).
  const bin = bins[3]!;
  assert.equal(bin.count, 4);
  close(bin.lower, 0.6);
  close(bin.upper, 0.8);
  close(bin.meanScore, (0.6 + 0.7 + 0.7 + 0.6) / 4);
  close(bin.positiveRate, 0.75);
  // By hand over all five bins (15 pairs):
  // [0,0.2): 0.1 0.1 -> 2 pairs, mean 0.1, rate 0                                  gap 0.1
  // [0.2,0.4): 0.2 0.2 0.2 0.3 0.3 -> 5, mean 0.24, rate 2/5 (row 3 Comedy, row 4 Drama) gap 0.16
  // [0.4,0.6): 0.4 -> 1, rate 0                                                     gap 0.4
  // [0.6,0.8): 4, mean 0.65, rate 0.75                                              gap 0.1
  // [0.8,1]: 0.9 0.8 0.9 -> 3, mean 0.8667, rate 2/3                                gap 0.2
  close(bins[1]!.positiveRate, 0.4);
  close(bins[1]!.meanScore, 0.24);
  close(ece, (2 * 0.1 + 5 * 0.16 + 1 * 0.4 + 4 * 0.1 + 3 * 0.2) / 15);
  assert.throws(() => calibration(scores, labels, rows, 3, 0), isError('INVALID_ARGUMENT', 'bins'));
});

test('thresholdSweep: micro precision / recall / F1 at each global threshold', () => {
  const sweep = thresholdSweep(scores, labels, rows, 3, 9);
  assert.deepEqual(sweep.map((p) => p.threshold), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  // At 0.5: predicted 7 cells, of which 5 true (row0 D H, row1 D, row2 H, row4 C); 7 positives in labels.
  const half = sweep[4]!;
  close(half.precision, 5 / 7);
  close(half.recall, 5 / 7);
  close(half.microF1, 5 / 7);
});

test('confidentMistakes: false positives by falling score, false negatives by rising score, with poster names', () => {
  const predicted = decide(scores, rows, 3, policy);
  const posters = Array.from({ length: rows }, (_, r) => ({ id: `tt${r}`, image: `/p/tt${r}.jpg` }));
  const [drama, horror, comedy] = confidentMistakes(scores, labels, predicted, rows, genres, [0.5, 0.5, 0.5], 3, posters);
  assert.deepEqual(drama!.falsePositives, []);
  assert.deepEqual(drama!.falseNegatives.map((m) => [m.id, m.score]), [['tt4', Math.fround(0.3)]]);
  assert.deepEqual(horror!.falsePositives[0], { row: 1, id: 'tt1', image: '/p/tt1.jpg', score: Math.fround(0.8), trueGenres: ['Drama'], predictedGenres: ['Drama', 'Horror'] });
  assert.deepEqual(comedy!.falsePositives.map((m) => m.row), [2]);
  assert.deepEqual(comedy!.falseNegatives.map((m) => m.row), [3]);
  assert.equal(comedy!.threshold, 0.5);
});

test('evaluationCharts: everything together, the baselines\' per-genre values agree with the report\'s', () => {
  const report = evaluateScores({ scores, labels, rows, genres, policy });
  const charts = evaluationCharts({ scores, labels, rows, genres, policy: { ...policy, perGenre: [null, 0.65, null] }, report });
  assert.deepEqual(charts.policyThresholds, [0.5, 0.65, 0.5]);
  assert.equal(charts.curves.length, 3);
  close(charts.curves[0]!.prevalence, 0.6);
  assert.equal(charts.curves[0]!.ap, report.perGenre[0]!.ap);
  // The prior scores every poster (0.6, 0.4, 0.4) and the report's prior threshold is 0.4: every genre predicted
  // everywhere, so per-genre F1 = 2p / (1 + p) with p the prevalence, and AP = p (constant scores).
  assert.equal(report.baselines.prior.threshold, Math.fround(0.4));
  close(charts.genreBaselines[0]!.prior.f1, (2 * 0.6) / 1.6);
  close(charts.genreBaselines[1]!.prior.ap!, 0.4);
  assert.deepEqual(charts.balance, { evaluated: [3, 2, 2] });
  assert.equal(charts.history.length, 0);
  assert.equal(charts.bestEpoch, null);
  assert.equal(charts.sweep.length, 99);
  // The prior is calibrated on its own labels: its ECE is (nearly) 0, random scores' is not.
  assert.ok(charts.calibration.baselines.prior < 1e-6, String(charts.calibration.baselines.prior));
  assert.ok(charts.calibration.baselines.random > 0.05);
  assert.throws(() => evaluationCharts({ scores: f32(0.1), labels, rows, genres, policy, report }), isError('INVALID_ARGUMENT', 'scores.length'));
});
